fn main() {
    // The addon reports the target it was built for (`engineInfo().target`), shown by /healthz.
    println!("cargo:rustc-env=PULSE_TARGET={}", std::env::var("TARGET").expect("cargo sets TARGET"));
    napi_build::setup();
}
