//! A text console on the bootloader's linear framebuffer (real machines booted from USB often
//! have no serial port). Glyphs come from `noto-sans-mono-bitmap`; when the screen is full the
//! text scrolls up by one line.

use bootloader_api::info::{FrameBuffer, FrameBufferInfo, PixelFormat};
use noto_sans_mono_bitmap::{FontWeight, RasterHeight, get_raster, get_raster_width};
use spin::Mutex;

const WEIGHT: FontWeight = FontWeight::Regular;
const HEIGHT: RasterHeight = RasterHeight::Size16;
const GLYPH_WIDTH: usize = get_raster_width(WEIGHT, HEIGHT);
const LINE_HEIGHT: usize = HEIGHT.val() + LINE_SPACING;
const LINE_SPACING: usize = 2;
const BORDER: usize = 4;

struct TextScreen {
    buffer: &'static mut [u8],
    info: FrameBufferInfo,
    column: usize,
    row: usize,
}

static SCREEN: Mutex<Option<TextScreen>> = Mutex::new(None);

/// Take over the framebuffer for text output.
pub fn init(framebuffer: FrameBuffer) {
    let info = framebuffer.info();
    let buffer = framebuffer.into_buffer();
    buffer.fill(0);
    *SCREEN.lock() = Some(TextScreen {
        buffer,
        info,
        column: 0,
        row: 0,
    });
}

/// Write text at the cursor.
pub fn write_str(text: &str) {
    if let Some(screen) = SCREEN.lock().as_mut() {
        text.chars().for_each(|c| screen.put_char(c));
    }
}

/// Break the lock for the fault path (see the module docs of `console`).
pub fn force_unlock() {
    if SCREEN.is_locked() {
        // SAFETY: only called on the fault/panic path, where the holder was interrupted and
        // will not resume; a half-drawn glyph is harmless.
        unsafe { SCREEN.force_unlock() };
    }
}

impl TextScreen {
    fn columns(&self) -> usize {
        self.info.width.saturating_sub(2 * BORDER) / GLYPH_WIDTH
    }

    fn rows(&self) -> usize {
        self.info.height.saturating_sub(2 * BORDER) / LINE_HEIGHT
    }

    fn put_char(&mut self, c: char) {
        match c {
            '\n' => self.new_line(),
            '\r' => self.column = 0,
            c => {
                if self.column >= self.columns() {
                    self.new_line();
                }
                let glyph =
                    get_raster(c, WEIGHT, HEIGHT).or_else(|| get_raster('?', WEIGHT, HEIGHT));
                if let Some(glyph) = glyph {
                    let x = BORDER + self.column * GLYPH_WIDTH;
                    let y = BORDER + self.row * LINE_HEIGHT;
                    for (dy, line) in glyph.raster().iter().enumerate() {
                        for (dx, &intensity) in line.iter().enumerate() {
                            self.put_pixel(x + dx, y + dy, intensity);
                        }
                    }
                }
                self.column += 1;
            }
        }
    }

    fn new_line(&mut self) {
        self.column = 0;
        if self.row + 1 < self.rows() {
            self.row += 1;
            return;
        }
        // Scroll: move every text line up by one and clear the last.
        let line_bytes = LINE_HEIGHT * self.info.stride * self.info.bytes_per_pixel;
        let text_start = BORDER * self.info.stride * self.info.bytes_per_pixel;
        let text_end = text_start + self.rows() * line_bytes;
        if text_end <= self.buffer.len() && line_bytes > 0 {
            self.buffer
                .copy_within(text_start + line_bytes..text_end, text_start);
            self.buffer[text_end - line_bytes..text_end].fill(0);
        }
    }

    fn put_pixel(&mut self, x: usize, y: usize, intensity: u8) {
        let bytes_per_pixel = self.info.bytes_per_pixel;
        let offset = (y * self.info.stride + x) * bytes_per_pixel;
        // Grey text: the same intensity in every colour channel, whatever their order.
        let color = match self.info.pixel_format {
            PixelFormat::U8 => [intensity, 0, 0, 0],
            _ => [intensity, intensity, intensity, 0],
        };
        let width = bytes_per_pixel.min(color.len());
        if let Some(pixel) = self.buffer.get_mut(offset..offset + width) {
            pixel.copy_from_slice(&color[..width]);
        }
    }
}
