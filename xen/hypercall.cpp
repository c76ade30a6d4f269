#include "xen/hypercall.h"

#include "xen/abi.h"

namespace domd::xen {

// Err's values are Xen's errno values: err_from_xen depends on it.
static_assert(static_cast<int>(Err::permission) == XEN_EPERM);
static_assert(static_cast<int>(Err::not_found) == XEN_ENOENT);
static_assert(static_cast<int>(Err::no_such_domain) == XEN_ESRCH);
static_assert(static_cast<int>(Err::io) == XEN_EIO);
static_assert(static_cast<int>(Err::too_big) == XEN_E2BIG);
static_assert(static_cast<int>(Err::again) == XEN_EAGAIN);
static_assert(static_cast<int>(Err::no_memory) == XEN_ENOMEM);
static_assert(static_cast<int>(Err::access) == XEN_EACCES);
static_assert(static_cast<int>(Err::fault) == XEN_EFAULT);
static_assert(static_cast<int>(Err::busy) == XEN_EBUSY);
static_assert(static_cast<int>(Err::exists) == XEN_EEXIST);
static_assert(static_cast<int>(Err::no_device) == XEN_ENODEV);
static_assert(static_cast<int>(Err::invalid) == XEN_EINVAL);
static_assert(static_cast<int>(Err::no_space) == XEN_ENOSPC);
static_assert(static_cast<int>(Err::read_only) == XEN_EROFS);
static_assert(static_cast<int>(Err::range) == XEN_ERANGE);
static_assert(static_cast<int>(Err::name_too_long) == XEN_ENAMETOOLONG);
static_assert(static_cast<int>(Err::not_implemented) == XEN_ENOSYS);
static_assert(static_cast<int>(Err::not_empty) == XEN_ENOTEMPTY);
static_assert(static_cast<int>(Err::overflow) == XEN_EOVERFLOW);
static_assert(static_cast<int>(Err::message_size) == XEN_EMSGSIZE);
static_assert(static_cast<int>(Err::not_supported) == XEN_EOPNOTSUPP);
static_assert(static_cast<int>(Err::no_buffers) == XEN_ENOBUFS);
static_assert(static_cast<int>(Err::not_connected) == XEN_ENOTCONN);
static_assert(static_cast<int>(Err::timed_out) == XEN_ETIMEDOUT);

}  // namespace domd::xen
