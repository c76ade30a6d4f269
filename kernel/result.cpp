#include "kernel/result.h"

namespace domd {

const char* err_name(Err e) {
    switch (e) {
        case Err::permission: return "EPERM";
        case Err::not_found: return "ENOENT";
        case Err::no_such_domain: return "ESRCH";
        case Err::io: return "EIO";
        case Err::too_big: return "E2BIG";
        case Err::again: return "EAGAIN";
        case Err::no_memory: return "ENOMEM";
        case Err::access: return "EACCES";
        case Err::fault: return "EFAULT";
        case Err::busy: return "EBUSY";
        case Err::exists: return "EEXIST";
        case Err::no_device: return "ENODEV";
        case Err::invalid: return "EINVAL";
        case Err::no_space: return "ENOSPC";
        case Err::read_only: return "EROFS";
        case Err::range: return "ERANGE";
        case Err::name_too_long: return "ENAMETOOLONG";
        case Err::not_implemented: return "ENOSYS";
        case Err::not_empty: return "ENOTEMPTY";
        case Err::protocol: return "EPROTO";
        case Err::overflow: return "EOVERFLOW";
        case Err::message_size: return "EMSGSIZE";
        case Err::not_supported: return "EOPNOTSUPP";
        case Err::no_buffers: return "ENOBUFS";
        case Err::not_connected: return "ENOTCONN";
        case Err::timed_out: return "ETIMEDOUT";
        case Err::quota: return "EQUOTA";
    }
    return "E?";
}

}  // namespace domd
