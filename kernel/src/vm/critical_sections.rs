//! Critical sections for device models (the paper's operations 18–21): hypervisor-wide
//! spinlocks, so instances of a device in several VMs can guard a shared host resource. While a
//! section is entered, interrupts are held off on this CPU; entering one that this CPU already
//! holds is refused instead of deadlocking.

use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use devices::interface::{CriticalSectionError, CriticalSectionId};

/// Sections that can exist at once, hypervisor-wide.
pub const MAX_SECTIONS: usize = 64;

const FREE: u8 = 0;
const CREATED: u8 = 1;

static STATE: [AtomicU8; MAX_SECTIONS] = [const { AtomicU8::new(FREE) }; MAX_SECTIONS];
static LOCKED: [AtomicBool; MAX_SECTIONS] = [const { AtomicBool::new(false) }; MAX_SECTIONS];
/// Whether interrupts were enabled when each section was entered.
static INTERRUPTS_WERE_ON: [AtomicBool; MAX_SECTIONS] =
    [const { AtomicBool::new(false) }; MAX_SECTIONS];

fn slot(id: CriticalSectionId) -> Result<usize, CriticalSectionError> {
    let index = id.0 as usize;
    if index < MAX_SECTIONS && STATE[index].load(Ordering::Acquire) == CREATED {
        Ok(index)
    } else {
        Err(CriticalSectionError::Unknown(id))
    }
}

/// Operation 18.
pub fn create() -> Result<CriticalSectionId, CriticalSectionError> {
    (0..MAX_SECTIONS)
        .find(|&i| {
            STATE[i]
                .compare_exchange(FREE, CREATED, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        })
        .map(|i| CriticalSectionId(i as u32))
        .ok_or(CriticalSectionError::TooMany)
}

/// Operation 19: spin until the section is free, with interrupts off.
pub fn enter(id: CriticalSectionId) -> Result<(), CriticalSectionError> {
    let index = slot(id)?;
    let interrupts = x86_64::instructions::interrupts::are_enabled();
    x86_64::instructions::interrupts::disable();
    // One CPU runs the hypervisor today: a section already locked is held by the caller.
    if LOCKED[index].swap(true, Ordering::Acquire) {
        if interrupts {
            x86_64::instructions::interrupts::enable();
        }
        return Err(CriticalSectionError::AlreadyEntered(id));
    }
    INTERRUPTS_WERE_ON[index].store(interrupts, Ordering::Relaxed);
    Ok(())
}

/// Operation 20.
pub fn exit(id: CriticalSectionId) -> Result<(), CriticalSectionError> {
    let index = slot(id)?;
    if !LOCKED[index].swap(false, Ordering::Release) {
        return Err(CriticalSectionError::NotEntered(id));
    }
    if INTERRUPTS_WERE_ON[index].load(Ordering::Relaxed) {
        x86_64::instructions::interrupts::enable();
    }
    Ok(())
}

/// Operation 21: only a section that is not entered can go.
pub fn remove(id: CriticalSectionId) -> Result<(), CriticalSectionError> {
    let index = slot(id)?;
    if LOCKED[index].load(Ordering::Acquire) {
        return Err(CriticalSectionError::NotEntered(id));
    }
    STATE[index].store(FREE, Ordering::Release);
    Ok(())
}
