//! The kernel's cpulist format (`0-3,8,10-11`), as in `/sys/devices/system/cpu/online`,
//! `/proc/irq/N/smp_affinity_list` and `effective_affinity_list`: the one parser
//! ([`parse`]) and printer ([`format`]). Hex CPU *masks* (`rps_cpus`, `xps_cpus`) are
//! [`super::interfaces::parse_cpu_mask`].

use super::parse_dec;

/// CPU ids in a cpulist are below this (the kernel's largest NR_CPUS is 8192), so a list
/// expands to at most this many CPUs; protects against absurd ranges in a corrupted file.
pub const MAX_CPUS: usize = crate::snapshot::MAX_CPU as usize;

/// Parse a cpulist such as `0-3,5` into the sorted list of CPU ids without duplicates.
/// Whitespace around the list and around each element is ignored; an empty list (the
/// kernel prints an empty line for an empty mask, e.g. `offline`) is `Some(vec![])`.
/// Malformed input (signs, empty elements, reversed ranges) or a CPU id of [`MAX_CPUS`] or
/// more is `None`.
pub fn parse(text: &str) -> Option<Vec<u32>> {
    let text = text.trim_ascii();
    let mut cpus = Vec::new();
    if text.is_empty() {
        return Some(cpus);
    }
    for part in text.split(',') {
        let part = part.trim_ascii();
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (
                parse_dec::<u32>(a.trim_ascii())?,
                parse_dec::<u32>(b.trim_ascii())?,
            ),
            None => {
                let v = parse_dec::<u32>(part)?;
                (v, v)
            }
        };
        if lo > hi || hi as usize >= MAX_CPUS {
            return None;
        }
        cpus.extend(lo..=hi);
    }
    cpus.sort_unstable();
    cpus.dedup();
    Some(cpus)
}

/// Print CPU ids as the kernel does (`0-3,8,10-11`): sorted, without duplicates, runs of
/// consecutive ids as ranges; an empty list is the empty string. [`parse`] reads it back.
pub fn format(cpus: &[u32]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while let Some(&start) = sorted.get(i) {
        let mut end = start;
        while sorted
            .get(i + 1)
            .is_some_and(|&n| Some(n) == end.checked_add(1))
        {
            i += 1;
            end = end.saturating_add(1);
        }
        if !out.is_empty() {
            out.push(',');
        }
        if end == start {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}-{end}"));
        }
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse("0-3,5\n"), Some(vec![0, 1, 2, 3, 5]));
        assert_eq!(parse("0"), Some(vec![0]));
        assert_eq!(parse("\n"), Some(vec![]));
        assert_eq!(parse(""), Some(vec![]));
        assert_eq!(parse("8-9,0-1"), Some(vec![0, 1, 8, 9]));
        assert_eq!(parse("0,2-3,3"), Some(vec![0, 2, 3]));
        assert_eq!(parse(" 0 - 2 , 5 "), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse("3-1"), None);
        assert_eq!(parse("a"), None);
        assert_eq!(parse("x"), None);
        assert_eq!(parse("1,,2"), None);
        assert_eq!(parse("-1"), None);
        assert_eq!(parse("+1"), None);
        assert_eq!(parse("0-4294967295"), None);
        assert_eq!(parse("4294967295"), None, "a CPU beyond NR_CPUS");
        assert_eq!(parse("8192"), None);
        assert_eq!(parse("8191").map(|v| v.len()), Some(1));
        assert_eq!(parse("0-8191").map(|v| v.len()), Some(8192));
    }

    #[test]
    fn formats_runs_as_ranges() {
        assert_eq!(format(&[0, 1, 2, 3, 8, 10, 11]), "0-3,8,10-11");
        assert_eq!(format(&[3, 1, 2, 2]), "1-3");
        assert_eq!(format(&[5]), "5");
        assert_eq!(format(&[]), "");
        assert_eq!(format(&[u32::MAX - 1, u32::MAX]), "4294967294-4294967295");
    }

    proptest! {
        #[test]
        fn parser_never_panics(s in "\\PC{0,200}") {
            let _ = parse(&s);
        }

        #[test]
        fn cpu_list_like_never_panics(s in "[0-9,\\- ]{0,40}") {
            let _ = parse(&s);
        }

        #[test]
        fn format_round_trips(cpus in proptest::collection::vec(0u32..4096, 0..64)) {
            let mut want = cpus.clone();
            want.sort_unstable();
            want.dedup();
            prop_assert_eq!(parse(&format(&cpus)), Some(want));
        }
    }
}
