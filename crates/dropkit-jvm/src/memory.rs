//! Java memory as the core's row-major [`FlatIo`]: primitive arrays pinned for the call
//! (JNI critical regions, no copy on HotSpot) and direct NIO buffers by address. Every
//! `unsafe` block of the crate that touches Java memory is here.

use crate::guard::{Failure, Outcome};
use crate::layer::Io;
use dropkit::FlatIo;
use jni::objects::{JObject, JPrimitiveArray, TypeArray};
use jni::JNIEnv;

/// An element type Java passes: `float` or `double`.
pub(crate) trait Elem: TypeArray + dropkit::Element {
    /// `io` as the element-type-erased [`Io`].
    fn io(io: FlatIo<'_, Self>) -> Io<'_>;
}

impl Elem for f32 {
    fn io(io: FlatIo<'_, Self>) -> Io<'_> {
        Io::F32(io)
    }
}

impl Elem for f64 {
    fn io(io: FlatIo<'_, Self>) -> Io<'_> {
        Io::F64(io)
    }
}

/// The names of a call's read and written arguments, for error messages.
pub(crate) type Names = (&'static str, &'static str);

/// The written argument holds as many elements as the read one.
fn check_lengths(names: Names, src: usize, dst: usize) -> Outcome<()> {
    if src != dst {
        return Err(Failure::Argument(format!(
            "{} has {dst} elements and {} {src}: they must have the same length",
            names.1, names.0
        )));
    }
    Ok(())
}

/// A primitive array pinned by `GetPrimitiveArrayCritical` until dropped.
struct Pinned<T> {
    env: *mut jni::sys::JNIEnv,
    array: jni::sys::jarray,
    ptr: *mut T,
    mode: jni::sys::jint,
}

impl<T> Pinned<T> {
    /// Pins `array`, of `len` elements (read before: no JNI call is allowed in a critical
    /// region but the opening and closing of others).
    ///
    /// # Safety
    /// `env` is this thread's live environment, `array` a live reference to a primitive
    /// array of `T` holding `len` elements, and no JNI call but [`Pinned::new`] and the
    /// guards' drops happens until the guard is dropped.
    unsafe fn new(
        env: *mut jni::sys::JNIEnv,
        array: jni::sys::jarray,
        write: bool,
    ) -> Outcome<Self> {
        // SAFETY: by the contract above; the function pointer is part of every JNI table.
        let ptr = unsafe {
            let get = (**env).GetPrimitiveArrayCritical.ok_or(Failure::Argument(
                "this JVM lacks GetPrimitiveArrayCritical".to_owned(),
            ))?;
            get(env, array, std::ptr::null_mut())
        };
        if ptr.is_null() {
            // The JVM has thrown an OutOfMemoryError.
            return Err(Failure::Jni(jni::errors::Error::NullPtr(
                "GetPrimitiveArrayCritical",
            )));
        }
        let mode = if write { 0 } else { jni::sys::JNI_ABORT };
        Ok(Pinned {
            env,
            array,
            ptr: ptr.cast(),
            mode,
        })
    }
}

impl<T> Drop for Pinned<T> {
    fn drop(&mut self) {
        // SAFETY: the pointer was returned by GetPrimitiveArrayCritical for this array and
        // environment, and is released once.
        unsafe {
            if let Some(release) = (**self.env).ReleasePrimitiveArrayCritical {
                release(self.env, self.array, self.ptr.cast(), self.mode);
            }
        }
    }
}

/// Runs `call` over `src` read and `dst` written; the same array for both is processed in
/// place. No JNI call may happen inside `call` (the arrays are in critical regions: pinned,
/// not copied, on HotSpot).
pub(crate) fn with_arrays<T: Elem, R>(
    env: &mut JNIEnv<'_>,
    names: Names,
    src: &JPrimitiveArray<'_, T>,
    dst: &JPrimitiveArray<'_, T>,
    call: impl FnOnce(Io<'_>) -> Outcome<R>,
) -> Outcome<R> {
    let same = env.is_same_object(src, dst)?;
    let src_len = env.get_array_length(src)? as usize;
    let dst_len = env.get_array_length(dst)? as usize;
    check_lengths(names, src_len, dst_len)?;
    let raw = env.get_raw();
    if same {
        // SAFETY: `raw` is this thread's environment, the array is live for this call and
        // holds `dst_len` elements; `call` makes no JNI call.
        let both = unsafe { Pinned::<T>::new(raw, dst.as_raw(), true)? };
        // SAFETY: the pinned array holds `dst_len` initialized elements until `both` drops,
        // and nothing else refers to it in this call.
        let slice = unsafe { std::slice::from_raw_parts_mut(both.ptr, dst_len) };
        return call(T::io(FlatIo::InPlace(slice)));
    }
    // SAFETY: as above; nested critical regions are allowed.
    let input = unsafe { Pinned::<T>::new(raw, src.as_raw(), false)? };
    // SAFETY: as above.
    let output = unsafe { Pinned::<T>::new(raw, dst.as_raw(), true)? };
    // SAFETY: two distinct arrays (not the same object), pinned, of the lengths read above;
    // the shared and the mutable slice do not alias.
    let (input_slice, output_slice) = unsafe {
        (
            std::slice::from_raw_parts(input.ptr.cast_const(), src_len),
            std::slice::from_raw_parts_mut(output.ptr, dst_len),
        )
    };
    call(T::io(FlatIo::Copy {
        src: input_slice,
        dst: output_slice,
    }))
}

/// A window `[position, position + length)` of a direct `FloatBuffer` / `DoubleBuffer`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    start: *mut u8,
    bytes: usize,
    len: usize,
}

impl Window {
    /// The window of `buffer` named `name`, checked: direct, inside its capacity, aligned
    /// for `T`.
    pub(crate) fn of<T: Elem>(
        env: &JNIEnv<'_>,
        name: &str,
        buffer: &JObject<'_>,
        position: i32,
        length: i32,
    ) -> Outcome<Window> {
        let raw = env.get_raw();
        // SAFETY: `raw` is this thread's live environment and `buffer` a live local
        // reference; both JNI functions accept any object and return null / -1 for one
        // that is not a direct buffer.
        let (address, capacity) = unsafe {
            let functions = &**raw;
            let address = functions
                .GetDirectBufferAddress
                .map(|f| f(raw, buffer.as_raw()));
            let capacity = functions
                .GetDirectBufferCapacity
                .map(|f| f(raw, buffer.as_raw()));
            (address, capacity)
        };
        let (Some(address), Some(capacity)) = (address, capacity) else {
            return Err(Failure::Argument(format!(
                "{name}: this JVM has no direct buffer access"
            )));
        };
        if address.is_null() || capacity < 0 {
            return Err(Failure::Argument(format!(
                "{name} is not a direct buffer: accepted are direct buffers \
                 (ByteBuffer.allocateDirect(...).order(ByteOrder.nativeOrder()).as{}Buffer())",
                if std::mem::size_of::<T>() == 4 {
                    "Float"
                } else {
                    "Double"
                }
            )));
        }
        let (position, length) = (position as i64, length as i64);
        if position < 0 || length < 0 || position + length > capacity {
            return Err(Failure::Argument(format!(
                "{name}: position {position} and length {length} do not fit its capacity {capacity}"
            )));
        }
        let size = std::mem::size_of::<T>();
        let start = address.cast::<u8>().wrapping_add(position as usize * size);
        if !(start as usize).is_multiple_of(std::mem::align_of::<T>()) {
            return Err(Failure::Argument(format!(
                "{name}: its data at address {start:p} is not aligned to {} bytes: accepted \
                 are buffers of an aligned ByteBuffer (allocateDirect is)",
                std::mem::align_of::<T>()
            )));
        }
        Ok(Window {
            start,
            bytes: length as usize * size,
            len: length as usize,
        })
    }

    /// The number of elements in the window.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn overlaps(&self, other: &Window) -> bool {
        let (a, b) = (self.start as usize, other.start as usize);
        self.bytes > 0 && other.bytes > 0 && a < b + other.bytes && b < a + self.bytes
    }
}

/// Runs `call` over `src` read and `dst` written; the same window for both is processed in
/// place, and partly overlapping windows are refused.
///
/// # Safety
/// The windows were made by [`Window::of`] in this call from buffers the caller keeps
/// alive (direct buffers are never moved), and no other thread writes them during the call.
pub(crate) unsafe fn with_windows<T: Elem, R>(
    names: Names,
    src: Window,
    dst: Window,
    call: impl FnOnce(Io<'_>) -> Outcome<R>,
) -> Outcome<R> {
    check_lengths(names, src.len, dst.len)?;
    if src.start == dst.start && src.len == dst.len {
        // SAFETY: by the contract above the window is live, aligned for `T` and holds `len`
        // initialized elements (any bits are a valid float).
        let both = unsafe { std::slice::from_raw_parts_mut(dst.start.cast::<T>(), dst.len) };
        return call(T::io(FlatIo::InPlace(both)));
    }
    if src.overlaps(&dst) {
        return Err(Failure::Argument(
            "the input and output buffers overlap partly: accepted are disjoint buffers, \
             or the same window for in-place"
                .to_owned(),
        ));
    }
    // SAFETY: as above; the windows are disjoint, so the shared and the mutable slice do not
    // alias.
    let (input, output) = unsafe {
        (
            std::slice::from_raw_parts(src.start.cast::<T>(), src.len),
            std::slice::from_raw_parts_mut(dst.start.cast::<T>(), dst.len),
        )
    };
    call(T::io(FlatIo::Copy {
        src: input,
        dst: output,
    }))
}
