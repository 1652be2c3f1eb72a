//! The binding boundary: every exported function runs its body through [`guarded`], which
//! turns a [`Failure`] into the Java exception it stands for and a Rust panic into a
//! `RuntimeException` naming the call, so neither crosses into the JVM.

use jni::JNIEnv;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Why a call failed, and so which Java exception it throws.
#[derive(Debug)]
pub(crate) enum Failure {
    /// An error of the core: `IllegalArgumentException` with the error's message
    /// (`IllegalStateException` for a backward before any forward, `OutOfMemoryError` for
    /// an allocation the allocator refused).
    Core(dropkit::Error),
    /// A bad argument found by the binding: `IllegalArgumentException`.
    Argument(String),
    /// A JNI call failed; it left a Java exception pending, which is thrown as it is.
    Jni(jni::errors::Error),
}

impl From<dropkit::Error> for Failure {
    fn from(e: dropkit::Error) -> Self {
        Failure::Core(e)
    }
}

impl From<jni::errors::Error> for Failure {
    fn from(e: jni::errors::Error) -> Self {
        Failure::Jni(e)
    }
}

/// The result of a binding's body.
pub(crate) type Outcome<R> = Result<R, Failure>;

/// Runs `body`; a failure or a panic becomes a pending Java exception and `R::default()` is
/// returned (the JVM ignores the value of a call that throws).
pub(crate) fn guarded<'l, R: Default>(
    env: &mut JNIEnv<'l>,
    call: &'static str,
    body: impl FnOnce(&mut JNIEnv<'l>) -> Outcome<R>,
) -> R {
    let result = catch_unwind(AssertUnwindSafe(|| body(env)));
    let (class, message) = match result {
        Ok(Ok(value)) => return value,
        Ok(Err(Failure::Core(e))) => (core_class(&e), e.to_string()),
        Ok(Err(Failure::Argument(message))) => ("java/lang/IllegalArgumentException", message),
        Ok(Err(Failure::Jni(e))) => {
            if env.exception_check().unwrap_or(true) {
                return R::default();
            }
            (
                "java/lang/RuntimeException",
                format!("dropkit.{call}: JNI call failed: {e}"),
            )
        }
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| (*s).to_owned())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".to_owned());
            (
                "java/lang/RuntimeException",
                format!("dropkit.{call}: internal error (Rust panic): {what}"),
            )
        }
    };
    // A pending exception (a failed JNI call inside the body) is the one to report.
    if !env.exception_check().unwrap_or(true) {
        // If even this fails the JVM is out of memory and has an exception pending.
        let _ = env.throw_new(class, message);
    }
    R::default()
}

/// The Java exception class of a core error.
fn core_class(e: &dropkit::Error) -> &'static str {
    match e {
        dropkit::Error::BackwardBeforeForward { .. } => "java/lang/IllegalStateException",
        dropkit::Error::OutOfMemory { .. } => "java/lang/OutOfMemoryError",
        _ => "java/lang/IllegalArgumentException",
    }
}
