//! Arbitrary bytes read as a pcap or pcapng file; see
//! `depmap_suite::fuzz_bodies::read_capture`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| depmap_suite::fuzz_bodies::read_capture(data));
