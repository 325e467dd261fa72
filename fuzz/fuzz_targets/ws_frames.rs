#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| openclaw::fuzzing::ws_frames(data));
