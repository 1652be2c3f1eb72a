//! The native methods of the Java class `dropkit.Native`, one function each. Each runs its
//! body through [`guarded`]; the Java classes check the handle is open and call these under
//! the layer's lock.

use crate::guard::{guarded, Failure, Outcome};
use crate::layer::{free, handle, Handle, JvmLayer};
use crate::memory::{with_arrays, with_windows, Elem, Window};
use dropkit::{
    AlphaDropout, Dropout, FeatureAlphaDropout, GaussianDropout, GaussianNoise, GeneratorKind,
    SpatialDropout1D, SpatialDropout2D, SpatialDropout3D,
};
use jni::objects::{
    JClass, JDoubleArray, JFloatArray, JIntArray, JObject, JPrimitiveArray, JString,
};
use jni::sys::{jboolean, jdouble, jint, jlong, jstring, JNI_FALSE, JNI_TRUE};
use jni::JNIEnv;

/// The generator of Java's `dropkit.Generator` ordinal.
fn generator(ordinal: jint) -> Outcome<GeneratorKind> {
    match ordinal {
        0 => Ok(GeneratorKind::Philox),
        1 => Ok(GeneratorKind::BigDl),
        other => Err(Failure::Argument(format!(
            "generator = {other} is unknown: accepted are Generator.PHILOX and Generator.BIGDL"
        ))),
    }
}

/// The shape Java passed, each dimension checked to be `>= 0`.
fn shape(env: &JNIEnv<'_>, shape: &JIntArray<'_>) -> Outcome<Vec<usize>> {
    let len = env.get_array_length(shape)?;
    let mut dims = vec![0; len as usize];
    env.get_int_array_region(shape, 0, &mut dims)?;
    dims.iter()
        .enumerate()
        .map(|(i, &d)| {
            usize::try_from(d).map_err(|_| {
                Failure::Argument(format!("shape[{i}] = {d} is negative: dimensions are >= 0"))
            })
        })
        .collect()
}

/// The layer's input and grad_output hold as many elements (backward reads only its shape,
/// which is the gradient's).
fn check_input(layer: &dyn JvmLayer, input_len: jint, grad_len: usize) -> Outcome<()> {
    if input_len as usize != grad_len {
        let name = layer.describe();
        let name = name.split('(').next().unwrap_or("layer").to_owned();
        return Err(Failure::Argument(format!(
            "{name}.backward: input has {input_len} elements and grad_output {grad_len}: \
             they must have the same shape"
        )));
    }
    Ok(())
}

/// A Java noise shape (`null`: none): `-1` is Keras's `None` (the input's size on that axis),
/// any other entry a size (the core refuses 0); below `-1` is an error naming the entry.
fn noise_shape(env: &JNIEnv<'_>, shape: &JIntArray<'_>) -> Outcome<Option<Vec<Option<usize>>>> {
    if shape.is_null() {
        return Ok(None);
    }
    let len = env.get_array_length(shape)?;
    let mut dims = vec![0; len as usize];
    env.get_int_array_region(shape, 0, &mut dims)?;
    dims.iter()
        .enumerate()
        .map(|(i, &d)| match d {
            -1 => Ok(None),
            d => usize::try_from(d).map(Some).map_err(|_| {
                Failure::Argument(format!(
                    "noiseShape[{i}] = {d} is invalid: accepted are -1 (the input's size on \
                     that axis) and sizes >= 1"
                ))
            }),
        })
        .collect::<Outcome<Vec<_>>>()
        .map(Some)
}

fn new_layer(
    env: &mut JNIEnv<'_>,
    call: &'static str,
    make: impl FnOnce(&mut JNIEnv<'_>) -> Outcome<Box<dyn JvmLayer>>,
) -> jlong {
    guarded(env, call, |env| Ok(Handle::into_raw(make(env)?)))
}

/// `Native.newDropout(initP, inplace, scale, noiseShape)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_newDropout<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    init_p: jdouble,
    inplace: jboolean,
    scale: jboolean,
    shape: JIntArray<'l>,
) -> jlong {
    new_layer(&mut env, "Dropout", |env| {
        let layer = Dropout::with_options(init_p, inplace != JNI_FALSE, scale != JNI_FALSE)?;
        Ok(Box::new(match noise_shape(env, &shape)? {
            Some(s) => layer.with_noise_shape(&s)?,
            None => layer,
        }))
    })
}

/// `Native.newGaussianDropout(rate, noiseShape)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_newGaussianDropout<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    rate: jdouble,
    shape: JIntArray<'l>,
) -> jlong {
    new_layer(&mut env, "GaussianDropout", |env| {
        let layer = GaussianDropout::new(rate)?;
        Ok(Box::new(match noise_shape(env, &shape)? {
            Some(s) => layer.with_noise_shape(&s)?,
            None => layer,
        }))
    })
}

/// `Native.newGaussianNoise(stddev, noiseShape)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_newGaussianNoise<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    stddev: jdouble,
    shape: JIntArray<'l>,
) -> jlong {
    new_layer(&mut env, "GaussianNoise", |env| {
        let layer = GaussianNoise::new(stddev)?;
        Ok(Box::new(match noise_shape(env, &shape)? {
            Some(s) => layer.with_noise_shape(&s)?,
            None => layer,
        }))
    })
}

/// `Native.newSpatial(dims, initP, format)`: SpatialDropout1D/2D/3D; a null format is the
/// layer's default.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_newSpatial<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    dims: jint,
    init_p: jdouble,
    format: JString<'l>,
) -> jlong {
    new_layer(&mut env, "SpatialDropout", |env| {
        let format: Option<String> = if format.is_null() {
            None
        } else {
            Some(env.get_string(&format)?.into())
        };
        Ok(match (dims, format) {
            (1, None) => Box::new(SpatialDropout1D::new(init_p)?),
            (1, Some(f)) => Box::new(SpatialDropout1D::with_format(init_p, &f)?),
            (2, None) => Box::new(SpatialDropout2D::new(init_p)?),
            (2, Some(f)) => Box::new(SpatialDropout2D::with_format(init_p, &f)?),
            (3, None) => Box::new(SpatialDropout3D::new(init_p)?),
            (3, Some(f)) => Box::new(SpatialDropout3D::with_format(init_p, &f)?),
            (d, _) => {
                return Err(Failure::Argument(format!(
                    "SpatialDropout{d}D does not exist"
                )))
            }
        })
    })
}

/// `Native.newAlphaDropout(p)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_newAlphaDropout(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    p: jdouble,
) -> jlong {
    new_layer(&mut env, "AlphaDropout", |_| {
        Ok(Box::new(AlphaDropout::new(p)?))
    })
}

/// `Native.newFeatureAlphaDropout(p, format)`: the format as the core reads it ("NCHW" or
/// "channels_first", "NHWC" or "channels_last", in any case); the Java class passes a non-null
/// one.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_newFeatureAlphaDropout<'l>(
    mut env: JNIEnv<'l>,
    _class: JClass<'l>,
    p: jdouble,
    format: JString<'l>,
) -> jlong {
    new_layer(&mut env, "FeatureAlphaDropout", |env| {
        if format.is_null() {
            return Ok(Box::new(FeatureAlphaDropout::new(p)?));
        }
        let format: String = env.get_string(&format)?.into();
        Ok(Box::new(FeatureAlphaDropout::with_format(p, &format)?))
    })
}

/// `Native.free(handle)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_free(mut env: JNIEnv<'_>, _class: JClass<'_>, h: jlong) {
    guarded(&mut env, "close", |_| {
        // SAFETY: the Java class frees an open handle once, under its lock, then forgets it.
        unsafe { free(h) };
        Ok(())
    })
}

/// `Native.setSeed(handle, seed, generator)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_setSeed(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
    seed: jlong,
    kind: jint,
) {
    guarded(&mut env, "setSeed", |_| {
        let kind = generator(kind)?;
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        unsafe { handle(h) }.lock().set_seed(seed as u64, kind);
        Ok(())
    })
}

/// `Native.setDefaultSeed(seed, generator)`: the process default generator.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_setDefaultSeed(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    seed: jlong,
    kind: jint,
) {
    guarded(&mut env, "Dropkit.setSeed", |_| {
        dropkit::set_seed(seed as u64, generator(kind)?);
        Ok(())
    })
}

/// `Native.setTraining(handle, on)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_setTraining(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
    on: jboolean,
) {
    guarded(&mut env, "training", |_| {
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        unsafe { handle(h) }.lock().set_training(on != JNI_FALSE);
        Ok(())
    })
}

fn flag(on: bool) -> jboolean {
    if on {
        JNI_TRUE
    } else {
        JNI_FALSE
    }
}

/// `Native.isTraining(handle)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_isTraining(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jboolean {
    guarded(&mut env, "isTraining", |_| {
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let layer = unsafe { handle(h) };
        Ok(flag(layer.lock().is_training()))
    })
}

/// `Native.isInplace(handle)`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_isInplace(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jboolean {
    guarded(&mut env, "isInplace", |_| {
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let layer = unsafe { handle(h) };
        Ok(flag(layer.lock().is_inplace()))
    })
}

/// `Native.describe(handle)`: the layer's `toString`.
#[no_mangle]
pub extern "system" fn Java_dropkit_Native_describe(
    mut env: JNIEnv<'_>,
    _class: JClass<'_>,
    h: jlong,
) -> jstring {
    guarded(&mut env, "toString", |env| {
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let text = unsafe { handle(h) }.lock().describe();
        Ok(env.new_string(text)?.into_raw())
    })
}

fn forward_arrays<T: Elem>(
    env: &mut JNIEnv<'_>,
    h: jlong,
    input: &JPrimitiveArray<'_, T>,
    output: &JPrimitiveArray<'_, T>,
    dims: &JIntArray<'_>,
) {
    guarded(env, "forward", |env| {
        let dims = shape(env, dims)?;
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let mut layer = unsafe { handle(h) }.lock();
        with_arrays(env, ("input", "output"), input, output, |io| {
            Ok(layer.forward(&dims, io)?)
        })
    })
}

fn backward_arrays<T: Elem>(
    env: &mut JNIEnv<'_>,
    h: jlong,
    input_len: jint,
    grad_output: &JPrimitiveArray<'_, T>,
    grad_input: &JPrimitiveArray<'_, T>,
    dims: &JIntArray<'_>,
) {
    guarded(env, "backward", |env| {
        let dims = shape(env, dims)?;
        let grad_len = env.get_array_length(grad_output)? as usize;
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let mut layer = unsafe { handle(h) }.lock();
        check_input(layer.as_ref(), input_len, grad_len)?;
        with_arrays(
            env,
            ("gradOutput", "gradInput"),
            grad_output,
            grad_input,
            |io| Ok(layer.backward(&dims, io)?),
        )
    })
}

macro_rules! array_exports {
    ($array:ident, $forward:ident, $backward:ident) => {
        /// `Native.forward*(handle, input, output, shape)`; the same array twice is in place.
        #[no_mangle]
        pub extern "system" fn $forward<'l>(
            mut env: JNIEnv<'l>,
            _class: JClass<'l>,
            h: jlong,
            input: $array<'l>,
            output: $array<'l>,
            dims: JIntArray<'l>,
        ) {
            forward_arrays(&mut env, h, &input, &output, &dims)
        }

        /// `Native.backward*(handle, inputLength, gradOutput, gradInput, shape)`.
        #[no_mangle]
        pub extern "system" fn $backward<'l>(
            mut env: JNIEnv<'l>,
            _class: JClass<'l>,
            h: jlong,
            input_len: jint,
            grad_output: $array<'l>,
            grad_input: $array<'l>,
            dims: JIntArray<'l>,
        ) {
            backward_arrays(&mut env, h, input_len, &grad_output, &grad_input, &dims)
        }
    };
}

array_exports!(
    JFloatArray,
    Java_dropkit_Native_forwardF,
    Java_dropkit_Native_backwardF
);
array_exports!(
    JDoubleArray,
    Java_dropkit_Native_forwardD,
    Java_dropkit_Native_backwardD
);

/// A buffer argument: the buffer, its position and its remaining length.
type Buf<'a, 'l> = (&'a str, &'a JObject<'l>, jint, jint);

fn forward_buffers<T: Elem>(
    env: &mut JNIEnv<'_>,
    h: jlong,
    src: Buf<'_, '_>,
    dst: Buf<'_, '_>,
    dims: &JIntArray<'_>,
) {
    guarded(env, "forward", |env| {
        let dims = shape(env, dims)?;
        let input = Window::of::<T>(env, src.0, src.1, src.2, src.3)?;
        let output = Window::of::<T>(env, dst.0, dst.1, dst.2, dst.3)?;
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let mut layer = unsafe { handle(h) }.lock();
        // SAFETY: windows of this call's buffers, which the Java caller holds.
        unsafe {
            with_windows::<T, _>(("input", "output"), input, output, |io| {
                Ok(layer.forward(&dims, io)?)
            })
        }
    })
}

fn backward_buffers<T: Elem>(
    env: &mut JNIEnv<'_>,
    h: jlong,
    input_len: jint,
    src: Buf<'_, '_>,
    dst: Buf<'_, '_>,
    dims: &JIntArray<'_>,
) {
    guarded(env, "backward", |env| {
        let dims = shape(env, dims)?;
        let grad_output = Window::of::<T>(env, src.0, src.1, src.2, src.3)?;
        let grad_input = Window::of::<T>(env, dst.0, dst.1, dst.2, dst.3)?;
        // SAFETY: an open handle, used under the Java layer's lock (see `handle`).
        let mut layer = unsafe { handle(h) }.lock();
        check_input(layer.as_ref(), input_len, grad_output.len())?;
        // SAFETY: windows of this call's buffers, which the Java caller holds.
        unsafe {
            with_windows::<T, _>(("gradOutput", "gradInput"), grad_output, grad_input, |io| {
                Ok(layer.backward(&dims, io)?)
            })
        }
    })
}

macro_rules! buffer_exports {
    ($t:ty, $forward:ident, $backward:ident) => {
        /// `Native.forwardBuf*(handle, input, position, length, output, position, length, shape)`.
        #[no_mangle]
        #[allow(clippy::too_many_arguments)] // the JNI signature: two buffer windows
        pub extern "system" fn $forward<'l>(
            mut env: JNIEnv<'l>,
            _class: JClass<'l>,
            h: jlong,
            input: JObject<'l>,
            input_pos: jint,
            input_len: jint,
            output: JObject<'l>,
            output_pos: jint,
            output_len: jint,
            dims: JIntArray<'l>,
        ) {
            let src = ("input", &input, input_pos, input_len);
            let dst = ("output", &output, output_pos, output_len);
            forward_buffers::<$t>(&mut env, h, src, dst, &dims)
        }

        /// `Native.backwardBuf*(handle, inputLength, gradOutput, position, length, gradInput,
        /// position, length, shape)`.
        #[no_mangle]
        #[allow(clippy::too_many_arguments)] // the JNI signature: two buffer windows
        pub extern "system" fn $backward<'l>(
            mut env: JNIEnv<'l>,
            _class: JClass<'l>,
            h: jlong,
            input_len: jint,
            grad_output: JObject<'l>,
            grad_output_pos: jint,
            grad_output_len: jint,
            grad_input: JObject<'l>,
            grad_input_pos: jint,
            grad_input_len: jint,
            dims: JIntArray<'l>,
        ) {
            let src = ("gradOutput", &grad_output, grad_output_pos, grad_output_len);
            let dst = ("gradInput", &grad_input, grad_input_pos, grad_input_len);
            backward_buffers::<$t>(&mut env, h, input_len, src, dst, &dims)
        }
    };
}

buffer_exports!(
    f32,
    Java_dropkit_Native_forwardBufF,
    Java_dropkit_Native_backwardBufF
);
buffer_exports!(
    f64,
    Java_dropkit_Native_forwardBufD,
    Java_dropkit_Native_backwardBufD
);
