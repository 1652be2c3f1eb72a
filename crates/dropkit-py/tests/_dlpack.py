"""DLPack capsules made with ctypes, for the tests of the extension's DLPack reading
(test_device_dlpack.py: the CUDA path without a GPU; test_host_dlpack.py: CPU tensors): a
DLManagedTensor, or a DLManagedTensorVersioned, whose deleter counts its calls, in a capsule
named "dltensor" (or "dltensor_versioned") whose destructor calls the deleter when the capsule
was not consumed, as producers do."""

import ctypes

KDL_CPU, KDL_CUDA, KDL_ROCM = 1, 2, 10
INT, UINT, FLOAT, BFLOAT, COMPLEX, BOOL = 0, 1, 2, 4, 5, 6
READ_ONLY = 1  # DLPACK_FLAG_BITMASK_READ_ONLY


class DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class DLTensor(ctypes.Structure):
    _fields_ = [
        ("data", ctypes.c_void_p),
        ("device", DLDevice),
        ("ndim", ctypes.c_int32),
        ("dtype", DLDataType),
        ("shape", ctypes.POINTER(ctypes.c_int64)),
        ("strides", ctypes.POINTER(ctypes.c_int64)),
        ("byte_offset", ctypes.c_uint64),
    ]


class DLManagedTensor(ctypes.Structure):
    pass


DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensor))
DLManagedTensor._fields_ = [
    ("dl_tensor", DLTensor),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", DELETER),
]


class DLPackVersion(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint32), ("minor", ctypes.c_uint32)]


class DLManagedTensorVersioned(ctypes.Structure):
    pass


VERSIONED_DELETER = ctypes.CFUNCTYPE(None, ctypes.POINTER(DLManagedTensorVersioned))
DLManagedTensorVersioned._fields_ = [
    ("version", DLPackVersion),
    ("manager_ctx", ctypes.c_void_p),
    ("deleter", VERSIONED_DELETER),
    ("flags", ctypes.c_uint64),
    ("dl_tensor", DLTensor),
]

NAME = b"dltensor"
VERSIONED_NAME = b"dltensor_versioned"
# The destructor gets the capsule being deallocated as a raw pointer (a py_object would
# take a reference to an object whose count is already 0), and may run while an exception
# is pending: it calls the capsule functions without ctypes' error check (CDLL), which they
# do not need (they only read the capsule; GetPointer is called on a valid one).
CAPSULE_DESTRUCTOR = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_api = ctypes.CDLL(None)
PyCapsule_New = ctypes.pythonapi.PyCapsule_New
PyCapsule_New.restype = ctypes.py_object
PyCapsule_New.argtypes = [ctypes.c_void_p, ctypes.c_char_p, CAPSULE_DESTRUCTOR]
PyCapsule_IsValid = _api.PyCapsule_IsValid
PyCapsule_IsValid.restype = ctypes.c_int
PyCapsule_IsValid.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
PyCapsule_GetPointer = _api.PyCapsule_GetPointer
PyCapsule_GetPointer.restype = ctypes.c_void_p
PyCapsule_GetPointer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]


class Producer:
    """Makes DLPack capsules and counts the deleter calls of each tensor it made."""

    def __init__(self):
        self.deleted = []
        self._keep = []
        self._deleter = DELETER(lambda p: self.deleted.append(ctypes.addressof(p.contents)))
        self._versioned_deleter = VERSIONED_DELETER(
            lambda p: self.deleted.append(ctypes.addressof(p.contents)))
        self._destructor = CAPSULE_DESTRUCTOR(self._destroy)
        self._versioned_destructor = CAPSULE_DESTRUCTOR(self._destroy_versioned)

    def _destroy(self, capsule):
        # A producer's capsule destructor: the deleter runs here only if nobody consumed it.
        if PyCapsule_IsValid(capsule, NAME):
            p = PyCapsule_GetPointer(capsule, NAME)
            m = ctypes.cast(p, ctypes.POINTER(DLManagedTensor))
            m.contents.deleter(m)

    def _destroy_versioned(self, capsule):
        if PyCapsule_IsValid(capsule, VERSIONED_NAME):
            p = PyCapsule_GetPointer(capsule, VERSIONED_NAME)
            m = ctypes.cast(p, ctypes.POINTER(DLManagedTensorVersioned))
            m.contents.deleter(m)

    def capsule(self, shape=(4, 8), strides=None, dtype=(FLOAT, 32, 1), device=(KDL_CUDA, 0),
                data=0x7F00_0000_0000, byte_offset=0, versioned=False, flags=0,
                version=(1, 0)):
        """A capsule of a tensor at ``data`` (an address: memory the caller keeps alive, or
        a made-up address for the device path, which checks it before touching it);
        ``strides`` in elements (None: a NULL pointer)."""
        shape_arr = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        strides_arr = None
        if strides is not None:
            strides_arr = (ctypes.c_int64 * max(len(strides), 1))(*strides)
        m = DLManagedTensorVersioned() if versioned else DLManagedTensor()
        t = m.dl_tensor
        t.data = data
        t.device = DLDevice(*device)
        t.ndim = len(shape)
        t.dtype = DLDataType(*dtype)
        t.shape = ctypes.cast(shape_arr, ctypes.POINTER(ctypes.c_int64))
        if strides_arr is not None:
            t.strides = ctypes.cast(strides_arr, ctypes.POINTER(ctypes.c_int64))
        t.byte_offset = byte_offset
        self._keep += [m, shape_arr, strides_arr]
        self.address = ctypes.addressof(m)
        if versioned:
            m.version = DLPackVersion(*version)
            m.flags = flags
            m.deleter = self._versioned_deleter
            return PyCapsule_New(ctypes.addressof(m), VERSIONED_NAME, self._versioned_destructor)
        m.deleter = self._deleter
        return PyCapsule_New(ctypes.addressof(m), NAME, self._destructor)


class FakeDlpackArray:
    """A stand-in for a framework's array that offers DLPack only (no
    ``__cuda_array_interface__``), with the capsules of ``producer``; its ``__dlpack__`` has
    no ``max_version`` (a producer older than DLPack 1.0) unless ``versioned``."""

    def __init__(self, producer, device=(KDL_CUDA, 0), cai_error=None, versioned=False,
                 **capsule):
        self.shape = capsule.get("shape", (4, 8))
        self.producer = producer
        self.device = device
        self.cai_error = cai_error
        self.capsule_fields = capsule
        self.streams = []
        self.versioned = versioned

    @property
    def __cuda_array_interface__(self):
        raise (self.cai_error or AttributeError("no __cuda_array_interface__"))

    def __dlpack_device__(self):
        return self.device

    def __dlpack__(self, stream=None, **kwargs):
        if kwargs and not self.versioned:
            raise TypeError(f"__dlpack__() got unexpected keyword arguments {sorted(kwargs)}")
        self.streams.append(stream)
        fields = dict(self.capsule_fields)
        fields.setdefault("device", self.device)
        if self.versioned and kwargs.get("max_version", (0, 0))[0] >= 1:
            fields.setdefault("versioned", True)
        return self.producer.capsule(**fields)
