//! VM and device names: 1 to `MAX_NAME_LEN` characters of `A-Z a-z 0-9 _ -`, so they can tag
//! console lines (`[name] text`) and appear in messages without quoting trouble.

use devices::vm_config::MAX_NAME_LEN;

use super::error::Problem;

/// Whether `c` may appear in a name.
const fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// Refuses a name that is empty, too long or has other characters.
pub fn check_name(name: &str) -> Result<(), Problem> {
    if name.is_empty() || name.len() > MAX_NAME_LEN || !name.chars().all(is_name_char) {
        return Err(Problem::BadName {
            name: name.to_string(),
            max: MAX_NAME_LEN,
        });
    }
    Ok(())
}
