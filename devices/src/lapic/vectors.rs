//! A set of the 256 interrupt vectors: the shape of the IRR, ISR and TMR (SDM 11.8.4), eight
//! 32-bit words, vector `v` at bit `v % 32` of word `v / 32`.

/// Words in a 256-bit register.
pub const WORDS: usize = 8;
const BITS_PER_WORD: u32 = 32;
const WORD_SHIFT: u32 = 5;
const BIT_MASK: u8 = 0x1F;

/// 256 bits, one per vector. Fixed size: nothing a guest does can grow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VectorSet {
    words: [u32; WORDS],
}

impl VectorSet {
    /// No vector.
    pub const fn new() -> Self {
        VectorSet { words: [0; WORDS] }
    }

    fn place(vector: u8) -> (usize, u32) {
        (usize::from(vector >> WORD_SHIFT), 1 << (vector & BIT_MASK))
    }

    /// Adds `vector`.
    pub fn insert(&mut self, vector: u8) {
        let (word, bit) = Self::place(vector);
        self.words[word] |= bit;
    }

    /// Removes `vector`.
    pub fn remove(&mut self, vector: u8) {
        let (word, bit) = Self::place(vector);
        self.words[word] &= !bit;
    }

    /// Whether `vector` is in the set.
    pub fn contains(&self, vector: u8) -> bool {
        let (word, bit) = Self::place(vector);
        self.words[word] & bit != 0
    }

    /// The highest vector in the set.
    pub fn highest(&self) -> Option<u8> {
        self.words
            .iter()
            .enumerate()
            .rev()
            .find(|(_, word)| **word != 0)
            .and_then(|(index, word)| {
                let bit = BITS_PER_WORD - 1 - word.leading_zeros();
                u8::try_from(index as u32 * BITS_PER_WORD + bit).ok()
            })
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|word| *word == 0)
    }

    /// Word `index` (0–7) as the register shows it; 0 past the end.
    pub fn word(&self, index: usize) -> u32 {
        self.words.get(index).copied().unwrap_or(0)
    }

    /// The vectors in the set, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = u8> + '_ {
        (0..=u8::MAX).filter(|vector| self.contains(*vector))
    }

    /// Number of vectors in the set.
    pub fn len(&self) -> u32 {
        self.words.iter().map(|word| word.count_ones()).sum()
    }
}
