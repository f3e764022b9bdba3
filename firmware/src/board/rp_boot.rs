//! The blocks the Raspberry Pi microcontrollers' boot ROMs look for in flash (features
//! `rp2040`, `rp2350`), placed by the board's memory map (`memory/rp2040.x`, `memory/rp2350.x`).

/// RP2040: the 256-byte second-stage bootloader at the start of flash, which sets up the
/// external flash (a W25Q080 or compatible, as on the Pico) before jumping to the vector
/// table after it.
#[cfg(feature = "rp2040")]
#[allow(unsafe_code)]
#[unsafe(link_section = ".boot2")]
#[used]
static BOOT2: [u8; 256] = rp2040_boot2::BOOT_LOADER_W25Q080;

/// RP2350: the minimum Arm IMAGE_DEF block (RP2350 datasheet, section 5.9.5.1) within the
/// first 4 KiB of flash: start marker, IMAGE_TYPE item (executable, Arm, secure, RP2350),
/// LAST item, a link to itself, end marker.
#[cfg(feature = "rp2350")]
#[allow(unsafe_code)]
#[unsafe(link_section = ".start_block")]
#[used]
static IMAGE_DEF: [u32; 5] = [
    0xffff_ded3,
    0x1021_0142,
    0x0000_01ff,
    0x0000_0000,
    0xab12_3579,
];
