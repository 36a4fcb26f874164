//! The controller's output buffer as a bounded queue: what the guest reads from port 0x60,
//! each byte tagged with the port it came from. The real 8042 has one output register and the
//! devices hold their bytes until it is free; a queue of [`OUTPUT_QUEUE_CAP`] entries models
//! that back-pressure without growing.

/// Bytes waiting for the guest at most; further bytes are dropped and counted.
pub const OUTPUT_QUEUE_CAP: usize = 16;

/// Which port a byte came from (decides the IRQ and status bit 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The controller itself or the keyboard port (IRQ 1).
    Keyboard,
    /// The auxiliary (mouse) port (IRQ 12).
    Mouse,
}

/// The queue was full; the byte was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

/// A fixed ring of [`OUTPUT_QUEUE_CAP`] bytes.
#[derive(Debug, Clone)]
pub struct OutputQueue {
    entries: [(u8, Source); OUTPUT_QUEUE_CAP],
    head: usize,
    len: usize,
}

impl OutputQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        OutputQueue {
            entries: [(0, Source::Keyboard); OUTPUT_QUEUE_CAP],
            head: 0,
            len: 0,
        }
    }

    /// Bytes waiting.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Appends a byte unless the queue is full.
    pub fn push(&mut self, byte: u8, source: Source) -> Result<(), QueueFull> {
        if self.len >= OUTPUT_QUEUE_CAP {
            return Err(QueueFull);
        }
        self.entries[(self.head + self.len) % OUTPUT_QUEUE_CAP] = (byte, source);
        self.len += 1;
        Ok(())
    }

    /// The oldest entry, if any.
    pub fn front(&self) -> Option<(u8, Source)> {
        (self.len > 0).then(|| self.entries[self.head])
    }

    /// Removes and returns the oldest entry.
    pub fn pop(&mut self) -> Option<(u8, Source)> {
        let entry = self.front()?;
        self.head = (self.head + 1) % OUTPUT_QUEUE_CAP;
        self.len -= 1;
        Some(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8042_output_queue_is_fifo_and_bounded() {
        let mut queue = OutputQueue::new();
        for byte in 0..OUTPUT_QUEUE_CAP as u8 {
            queue.push(byte, Source::Keyboard).unwrap();
        }
        assert_eq!(queue.push(0xFF, Source::Mouse), Err(QueueFull));
        for byte in 0..OUTPUT_QUEUE_CAP as u8 {
            assert_eq!(queue.pop(), Some((byte, Source::Keyboard)));
        }
        assert_eq!(queue.pop(), None);
    }
}
