#include "blk/disk_catalog.h"

#include <cstring>

namespace domd::blk {

void DiskView::close() {
    if (catalog_) catalog_->close(*this);
    catalog_ = nullptr;
    disk_ = nullptr;
}

Status DiskView::submit(BlockIo& io) {
    if (!disk_) return Err::not_connected;
    if (!writable_ && io.op != BlockOp::read && io.op != BlockOp::flush) {
        // Refused here, before the store sees it; the completion carries it like a store's own.
        io.complete(io, Err::read_only);
        return ok_status();
    }
    return disk_->submit(io);
}

DeviceProfile DiskView::profile() const { return catalog_ ? catalog_->disks_[index_].profile : DeviceProfile{}; }

Status DiskCatalog::add(std::string_view name, BlockDevice& disk, DeviceProfile profile) {
    if (name.empty()) return Err::invalid;
    if (name.size() > max_name) return Err::name_too_long;
    for (size_t i = 0; i < count_; ++i)
        if (this->name(i) == name) return Err::exists;
    if (count_ == max_disks) return Err::no_space;
    Entry& e = disks_[count_++];
    memcpy(e.name, name.data(), name.size());
    e.name_len = name.size();
    e.disk = &disk;
    e.profile = profile;
    return ok_status();
}

Status DiskCatalog::open(std::string_view name, bool writable, DiskView& view) {
    if (view.open()) return Err::exists;
    for (size_t i = 0; i < count_; ++i) {
        if (this->name(i) != name) continue;
        Entry& e = disks_[i];
        if (writable && e.disk->read_only()) return Err::read_only;
        if (e.writer || (writable && e.readers > 0)) return Err::busy;
        if (writable)
            e.writer = true;
        else
            ++e.readers;
        view.catalog_ = this;
        view.disk_ = e.disk;
        view.index_ = i;
        view.writable_ = writable;
        return ok_status();
    }
    return Err::not_found;
}

void DiskCatalog::close(DiskView& view) {
    Entry& e = disks_[view.index_];
    if (view.writable_)
        e.writer = false;
    else if (e.readers > 0)
        --e.readers;
}

}  // namespace domd::blk
