// Run-time mappings into domd's address space. Every page shared with Xen or another domain
// (shared_info, console and xenstore rings, grant-table frames, ioreq pages, guest memory) is
// reached through this interface; the target implements it with the kernel page tables, host
// tests with plain host memory.
#pragma once

#include <cstdint>

#include "kernel/addr.h"
#include "kernel/page_table.h"
#include "kernel/result.h"

namespace domd {

class Mapper {
public:
    // Maps the pages covering [pa, pa+size) and returns the address of `pa` itself (the page
    // offset is preserved). `pa` need not be page aligned.
    virtual Result<VirtAddr> map(PhysAddr pa, uint64_t size, MapAttrs attrs) = 0;
    // Undoes one map() call: same address and size as given/returned there.
    virtual Status unmap(VirtAddr va, uint64_t size) = 0;
    // Where a mapped virtual address lands in our physmap (through the page tables).
    virtual Result<PhysAddr> to_phys(VirtAddr va) const = 0;

protected:
    ~Mapper() = default;
};

// Owns one mapping and removes it when destroyed.
class Mapping {
public:
    Mapping() = default;
    Mapping(Mapper& mapper, VirtAddr va, uint64_t size) : mapper_(&mapper), va_(va), size_(size) {}
    Mapping(Mapping&& other) : mapper_(other.mapper_), va_(other.va_), size_(other.size_) {
        other.mapper_ = nullptr;
    }
    Mapping& operator=(Mapping&& other) {
        if (this != &other) {
            reset();
            mapper_ = other.mapper_;
            va_ = other.va_;
            size_ = other.size_;
            other.mapper_ = nullptr;
        }
        return *this;
    }
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    ~Mapping() { reset(); }

    static Result<Mapping> create(Mapper& mapper, PhysAddr pa, uint64_t size, MapAttrs attrs) {
        VirtAddr va = TRY(mapper.map(pa, size, attrs));
        return Mapping(mapper, va, size);
    }

    void reset() {
        if (mapper_) (void)mapper_->unmap(va_, size_);
        mapper_ = nullptr;
    }
    bool valid() const { return mapper_ != nullptr; }
    VirtAddr address() const { return va_; }
    uint64_t size() const { return size_; }
    template <typename T>
    T* as() const { return va_.as<T>(); }

private:
    Mapper* mapper_ = nullptr;
    VirtAddr va_{};
    uint64_t size_ = 0;
};

}  // namespace domd
