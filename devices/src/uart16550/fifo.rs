//! The 16550A's receiver FIFO: a 16-byte ring that never grows (PC16550D datasheet, "FIFO
//! operation"). In 16450 mode (FIFOs disabled) the model uses it with a limit of one byte, which
//! is the receiver buffer register.

/// Bytes the receiver FIFO holds (datasheet: 16).
pub const FIFO_CAPACITY: usize = 16;

/// The FIFO was full; the byte was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FifoFull;

/// A bounded byte ring of [`FIFO_CAPACITY`] entries.
#[derive(Debug, Clone)]
pub struct ByteFifo {
    bytes: [u8; FIFO_CAPACITY],
    head: usize,
    len: usize,
}

impl Default for ByteFifo {
    fn default() -> Self {
        Self::new()
    }
}

impl ByteFifo {
    /// An empty FIFO.
    pub const fn new() -> Self {
        ByteFifo {
            bytes: [0; FIFO_CAPACITY],
            head: 0,
            len: 0,
        }
    }

    /// Bytes stored.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no byte is stored.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores `byte` unless `limit` (itself capped at [`FIFO_CAPACITY`]) bytes are already held.
    pub fn push(&mut self, byte: u8, limit: usize) -> Result<(), FifoFull> {
        if self.len >= limit.min(FIFO_CAPACITY) {
            return Err(FifoFull);
        }
        let tail = (self.head + self.len) % FIFO_CAPACITY;
        self.bytes[tail] = byte;
        self.len += 1;
        Ok(())
    }

    /// Takes the oldest byte.
    pub fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.bytes[self.head];
        self.head = (self.head + 1) % FIFO_CAPACITY;
        self.len -= 1;
        Some(byte)
    }

    /// Drops every byte.
    pub fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_keeps_order_and_refuses_past_capacity() {
        let mut fifo = ByteFifo::new();
        for byte in 0..FIFO_CAPACITY as u8 {
            assert_eq!(fifo.push(byte, usize::MAX), Ok(()));
        }
        assert_eq!(fifo.push(0xEE, usize::MAX), Err(FifoFull));
        assert_eq!(fifo.len(), FIFO_CAPACITY);
        for byte in 0..FIFO_CAPACITY as u8 {
            assert_eq!(fifo.pop(), Some(byte));
        }
        assert_eq!(fifo.pop(), None);
    }

    #[test]
    fn fifo_limit_of_one_is_a_holding_register() {
        let mut fifo = ByteFifo::new();
        assert_eq!(fifo.push(b'a', 1), Ok(()));
        assert_eq!(fifo.push(b'b', 1), Err(FifoFull));
        assert_eq!(fifo.pop(), Some(b'a'));
    }

    #[test]
    fn fifo_wraps_around_the_ring() {
        let mut fifo = ByteFifo::new();
        for round in 0..3 * FIFO_CAPACITY {
            let byte = round as u8;
            fifo.push(byte, FIFO_CAPACITY).unwrap();
            fifo.push(byte.wrapping_add(1), FIFO_CAPACITY).unwrap();
            assert_eq!(fifo.pop(), Some(byte));
            assert_eq!(fifo.pop(), Some(byte.wrapping_add(1)));
        }
        assert!(fifo.is_empty());
    }
}
