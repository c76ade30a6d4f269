#include "tests/test_support.h"

#include "tests/fakes/fake_memory.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace domd::test {

namespace {
[[noreturn]] void die(const char* what) {
    perror(what);
    abort();
}
}  // namespace

FakePhysMemory::FakePhysMemory() {
    fd_ = memfd_create("domd-fake-phys", MFD_CLOEXEC);
    if (fd_ < 0) die("memfd_create");
}

FakePhysMemory::~FakePhysMemory() {
    for (void* p : pointers_) munmap(p, page_size);
    close(fd_);
}

FakePhysMemory::PageId FakePhysMemory::new_page() {
    auto id = static_cast<PageId>(pointers_.size());
    if (ftruncate(fd_, static_cast<off_t>((uint64_t{id} + 1) * page_size)) != 0) die("ftruncate");
    void* p = mmap(nullptr, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd_,
                   static_cast<off_t>(uint64_t{id} * page_size));
    if (p == MAP_FAILED) die("mmap");
    pointers_.push_back(p);
    return id;
}

FakeMapper::~FakeMapper() {
    for (auto& [va, live] : live_) munmap(reinterpret_cast<void*>(va), live.bytes);
    for (auto& [va, r] : reserved_) munmap(reinterpret_cast<void*>(va), r.bytes);
}

void* FakeMapper::frame(Gfn gfn) const {
    auto it = physmap_.find(gfn.value);
    return it == physmap_.end() ? nullptr : memory_.page(it->second);
}

Result<VirtAddr> FakeMapper::map(PhysAddr pa, uint64_t size, MapAttrs attrs) {
    maps.push_back({pa, size, attrs});
    if (fail_next_map != Err{}) {
        Err e = fail_next_map;
        fail_next_map = Err{};
        return e;
    }
    if (size == 0) return Err::invalid;
    uint64_t offset = pa.page_offset();
    uint64_t bytes = align_up(offset + size, page_size);
    PhysAddr base{pa.value - offset};
    for (uint64_t done = 0; done < bytes; done += page_size)
        if (!placed(Gfn::containing(base + done))) return Err::fault;

    // Reserve the run, then put each backing page into it.
    void* run = mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (run == MAP_FAILED) die("mmap");
    int prot = PROT_READ | (attrs.writable ? PROT_WRITE : 0);
    for (uint64_t done = 0; done < bytes; done += page_size) {
        auto page = physmap_.at(Gfn::containing(base + done).value);
        void* at = static_cast<char*>(run) + done;
        if (mmap(at, page_size, prot, MAP_SHARED | MAP_FIXED, memory_.fd(),
                 static_cast<off_t>(uint64_t{page} * page_size)) == MAP_FAILED)
            die("mmap");
    }
    auto va = reinterpret_cast<uintptr_t>(run);
    live_[va] = {base, bytes};
    return VirtAddr{va + offset};
}

Status FakeMapper::unmap(VirtAddr va, uint64_t size) {
    ++unmaps;
    if (fail_next_unmap != Err{}) {
        Err e = fail_next_unmap;
        fail_next_unmap = Err{};
        return e;
    }
    uint64_t offset = va.page_offset();
    uintptr_t base = va.value - offset;
    auto it = live_.find(base);
    if (it == live_.end() || it->second.bytes != align_up(offset + size, page_size)) return Err::invalid;
    munmap(reinterpret_cast<void*>(base), it->second.bytes);
    live_.erase(it);
    return ok_status();
}

std::map<uintptr_t, FakeMapper::Reserved>::iterator FakeMapper::reservation_of(uintptr_t va, uint64_t size) {
    auto it = reserved_.upper_bound(va);
    if (it == reserved_.begin()) return reserved_.end();
    --it;
    if (va - it->first >= it->second.bytes || size > it->second.bytes - (va - it->first)) return reserved_.end();
    return it;
}

Result<VirtAddr> FakeMapper::reserve(uint64_t size) {
    constexpr uint64_t block = uint64_t{2} << 20;
    if (size == 0 || size % block != 0) return Err::invalid;
    // Over-reserve to align to 2 MiB, then trim.
    void* raw = mmap(nullptr, size + block, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) die("mmap");
    uintptr_t start = align_up(reinterpret_cast<uintptr_t>(raw), block);
    if (start > reinterpret_cast<uintptr_t>(raw)) munmap(raw, start - reinterpret_cast<uintptr_t>(raw));
    uintptr_t end = reinterpret_cast<uintptr_t>(raw) + size + block;
    if (end > start + size) munmap(reinterpret_cast<void*>(start + size), end - (start + size));
    reserved_[start] = {size, 0};
    return VirtAddr{start};
}

Status FakeMapper::release(VirtAddr base, uint64_t size) {
    auto it = reserved_.find(base.value);
    if (it == reserved_.end() || it->second.bytes != size) return Err::invalid;
    if (it->second.mapped_pages != 0) return Err::busy;
    munmap(reinterpret_cast<void*>(base.value), size);
    reserved_.erase(it);
    return ok_status();
}

Status FakeMapper::map_at(VirtAddr va, PhysAddr pa, uint64_t size, MapAttrs attrs) {
    maps.push_back({pa, size, attrs});
    if (fail_next_map != Err{}) {
        Err e = fail_next_map;
        fail_next_map = Err{};
        return e;
    }
    if (size == 0 || va.page_offset() || pa.page_offset() || size % page_size) return Err::invalid;
    auto r = reservation_of(va.value, size);
    if (r == reserved_.end()) return Err::invalid;
    for (uint64_t done = 0; done < size; done += page_size) {
        if (placed_pages_.count(va.value + done)) return Err::exists;
        if (!placed(Gfn::containing(pa + done))) return Err::fault;
    }
    int prot = PROT_READ | (attrs.writable ? PROT_WRITE : 0);
    for (uint64_t done = 0; done < size; done += page_size) {
        auto page = physmap_.at(Gfn::containing(pa + done).value);
        if (mmap(reinterpret_cast<void*>(va.value + done), page_size, prot, MAP_SHARED | MAP_FIXED, memory_.fd(),
                 static_cast<off_t>(uint64_t{page} * page_size)) == MAP_FAILED)
            die("mmap");
        placed_pages_[va.value + done] = pa + done;
    }
    r->second.mapped_pages += size / page_size;
    return ok_status();
}

Status FakeMapper::unmap_at(VirtAddr va, uint64_t size) {
    ++unmaps;
    if (size == 0 || va.page_offset() || size % page_size) return Err::invalid;
    auto r = reservation_of(va.value, size);
    if (r == reserved_.end()) return Err::invalid;
    for (uint64_t done = 0; done < size; done += page_size)
        if (!placed_pages_.count(va.value + done)) return Err::not_found;
    if (mmap(reinterpret_cast<void*>(va.value), size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
             -1, 0) == MAP_FAILED)
        die("mmap");
    for (uint64_t done = 0; done < size; done += page_size) placed_pages_.erase(va.value + done);
    r->second.mapped_pages -= size / page_size;
    return ok_status();
}

Result<PhysAddr> FakeMapper::to_phys(VirtAddr va) const {
    if (auto p = placed_pages_.find(va.value - va.page_offset()); p != placed_pages_.end())
        return p->second + va.page_offset();
    auto it = live_.upper_bound(va.value);
    if (it == live_.begin()) return Err::not_found;
    --it;
    if (va.value - it->first >= it->second.bytes) return Err::not_found;
    return it->second.pa + (va.value - it->first);
}

}  // namespace domd::test
