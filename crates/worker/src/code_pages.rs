//! The machine code and read-only data the template has mapped, kept mapped in its
//! children.
//!
//! `fork` copies the page-table entries of a mapping only when the mapping has anonymous
//! pages of its own (`anon_vma`); the code and constants of the binary and its libraries
//! have none, so the kernel leaves their entries to be faulted in again, 64 KiB at a time.
//! A worker forked from the template would then fault in the engine's, the compiler's and
//! the libraries' code while it runs the agent's snippet: about 6 MiB of it for a trivial
//! one, a few hundred microseconds of every execution. The template gives each such
//! mapping one anonymous page before it forks ([`keep_mapped_in_children`]): it writes one
//! byte of the mapping back unchanged through `/proc/self/mem`, which copies that page as
//! a write to private memory does, without making the mapping writable. From then on fork
//! copies the entries of every page the template has mapped (what its warm-up and its
//! sandbox's build ran), and a child starts with them in.
//!
//! This must never change what memory holds or what a child may reach: the byte written is
//! the byte read, the protections stay as they were, and the child maps nothing it did not
//! already have.

use std::os::unix::fs::FileExt;

/// Gives each private read-only file mapping of this process (code and constants of the
/// binary and its libraries) an anonymous page, so that `fork` copies its page-table
/// entries; how many it did. Best effort: where `/proc/self/mem` cannot be written (a
/// kernel built to refuse it), children fault their code in as they run it.
pub(crate) fn keep_mapped_in_children() -> usize {
    let Ok(maps) = std::fs::read_to_string("/proc/self/maps") else {
        return 0;
    };
    let Ok(memory) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/proc/self/mem")
    else {
        return 0;
    };
    maps.lines()
        .filter_map(read_only_file_mapping)
        .filter(|&(start, _)| rewrite_byte(&memory, start))
        .count()
}

/// Writes the byte at `address` back unchanged; whether it could.
fn rewrite_byte(memory: &std::fs::File, address: usize) -> bool {
    let mut byte = [0u8; 1];
    memory.read_exact_at(&mut byte, address as u64).is_ok()
        && memory.write_all_at(&byte, address as u64).is_ok()
}

/// `start-end r-xp offset dev inode /path`: the range of a private, read-only mapping of a
/// file (code or constants), or `None`.
fn read_only_file_mapping(line: &str) -> Option<(usize, usize)> {
    let mut fields = line.split_whitespace();
    let range = fields.next()?;
    let perms = fields.next()?;
    let path = fields.nth(3)?;
    if !(perms == "r-xp" || perms == "r--p") || !path.starts_with('/') {
        return None;
    }
    let (start, end) = range.split_once('-')?;
    Some((
        usize::from_str_radix(start, 16).ok()?,
        usize::from_str_radix(end, 16).ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_read_only_mapping_gets_one_anonymous_page_and_stays_as_it_was() {
        let here = each_read_only_mapping_gets_one_anonymous_page_and_stays_as_it_was as *const ()
            as usize;
        let before = std::fs::read_to_string("/proc/self/maps").unwrap();
        let adopted = keep_mapped_in_children();
        assert!(adopted > 0, "no mapping could be given a page");
        // The protections are as they were: the same mappings, the same permissions.
        let after = std::fs::read_to_string("/proc/self/maps").unwrap();
        let perms = |maps: &str| -> Vec<String> {
            maps.lines()
                .filter(|line| read_only_file_mapping(line).is_some())
                .map(|line| {
                    line.split_whitespace()
                        .take(2)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        assert_eq!(perms(&before), perms(&after));
        // This function's own code mapping now has an anonymous page (and it ran on).
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let mut in_ours = false;
        let mut anonymous_kb = None;
        for line in smaps.lines() {
            if let Some((start, end)) = read_only_file_mapping(line) {
                in_ours = (start..end).contains(&here);
            } else if in_ours && line.starts_with("Anonymous:") {
                anonymous_kb = line
                    .split_whitespace()
                    .nth(1)
                    .and_then(|kb| kb.parse::<u64>().ok());
                in_ours = false;
            }
        }
        assert!(anonymous_kb.is_some_and(|kb| kb > 0), "{anonymous_kb:?}");
    }

    #[test]
    fn only_read_only_file_mappings_count() {
        let line = "55d0c0a00000-55d0c0c00000 r-xp 00001000 08:01 123 /usr/bin/codemode";
        assert_eq!(
            read_only_file_mapping(line),
            Some((0x55d0c0a00000, 0x55d0c0c00000))
        );
        for other in [
            "55d0c0a00000-55d0c0c00000 rw-p 00001000 08:01 123 /usr/bin/codemode",
            "7ffd992cc000-7ffd992ed000 r--p 00000000 00:00 0 [vvar]",
            "7ffd992cc000-7ffd992ed000 r-xp 00000000 00:00 0",
            "7f0000000000-7f0000001000 r--s 00000000 08:01 9 /dev/shm/x",
        ] {
            assert_eq!(read_only_file_mapping(other), None, "{other}");
        }
    }
}
