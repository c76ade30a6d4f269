#include "xen/guest_ram.h"

#include "kernel/log.h"

namespace domd::xen {

// A chunk: bit 31 mapped, bit 30 mapped with holes, bits 29..0 our first frame >> 9 (chunks
// take 512-aligned runs of our frames).
struct GuestRam::Chunk {
    static constexpr uint32_t mapped = 1u << 31;
    static constexpr uint32_t partial = 1u << 30;
    static constexpr uint32_t frame_mask = partial - 1;
    static uint64_t first_frame(uint32_t c) { return uint64_t{c & frame_mask} * chunk_pages; }
};

class ChunkTablePool {
public:
    using Table = std::array<uint32_t, GuestRam::chunks_per_group>;

    Result<uint16_t> take() {
        for (size_t i = 0; i < limits::max_chunk_tables; ++i) {
            if (used_[i]) continue;
            used_[i] = true;
            tables_[i].fill(0);
            return static_cast<uint16_t>(i + 1);
        }
        return Err::no_memory;
    }
    void give_back(uint16_t id) { used_[id - 1u] = false; }
    Table& at(uint16_t id) { return tables_[id - 1u]; }

private:
    Table tables_[limits::max_chunk_tables] = {};
    bool used_[limits::max_chunk_tables] = {};
};

namespace {

constinit ChunkTablePool chunk_tables;

// The batch buffers of one chunk mapping; the loop is single-threaded.
uint64_t guest_frames[GuestRam::chunk_pages];
uint64_t our_frames[GuestRam::chunk_pages];
int entry_errors[GuestRam::chunk_pages];

constexpr Err xen_enomem = Err::no_memory;

}  // namespace

GuestRam::GuestRam(DeviceModel& dm, Hypervisor& hv, FrameAllocator& frames, Mapper& mapper)
    : dm_(dm), hv_(hv), frames_(frames), mapper_(mapper) {}

GuestRam::~GuestRam() { stop(); }

Status GuestRam::start() {
    if (reserved_) return Err::exists;
    bank0_va_ = TRY(mapper_.reserve(bank0_size));
    auto bank1 = mapper_.reserve(bank1_size);
    if (!bank1.ok()) {
        (void)mapper_.release(bank0_va_, bank0_size);
        return bank1.error();
    }
    bank1_va_ = bank1.value();
    reserved_ = true;
    return ok_status();
}

Result<size_t> GuestRam::group_of(uint64_t gpa) const {
    if (gpa >= bank0_base && gpa - bank0_base < bank0_size) return (gpa - bank0_base) / group_bytes;
    if (gpa >= bank1_base && gpa - bank1_base < bank1_size) return bank0_size / group_bytes + (gpa - bank1_base) / group_bytes;
    return Err::fault;
}

Result<VirtAddr> GuestRam::va_of(uint64_t gpa) const {
    if (gpa >= bank0_base && gpa - bank0_base < bank0_size) return bank0_va_ + (gpa - bank0_base);
    if (gpa >= bank1_base && gpa - bank1_base < bank1_size) return bank1_va_ + (gpa - bank1_base);
    return Err::fault;
}

bool GuestRam::page_present(VirtAddr va) const { return mapper_.to_phys(va).ok(); }

Status GuestRam::map_chunk(size_t, uint32_t* entry, uint64_t chunk_gpa, VirtAddr va) {
    uint32_t& chunk = *entry;
    Gfn first = TRY(frames_.allocate(chunk_pages, chunk_pages));
    for (uint64_t i = 0; i < chunk_pages; ++i) {
        guest_frames[i] = (chunk_gpa >> page_shift) + i;
        our_frames[i] = first.value + i;
        entry_errors[i] = 0;
    }
    Status called = dm_.map_foreign(guest_frames, our_frames, entry_errors);
    if (!called.ok()) {
        (void)frames_.free(first, chunk_pages);  // the very run just allocated: cannot fail
        return called.error();
    }
    size_t refused = 0;
    for (uint64_t i = 0; i < chunk_pages; ++i) {
        if (entry_errors[i] == 0) continue;
        ++refused;
        if (err_from_xen(entry_errors[i]) == xen_enomem) {
            ++stats_.enomem;
            if (!logged_enomem_) {
                LOG_WARN("domain %u: Xen's page-table pool for domd is full (ENOMEM mapping guest RAM): "
                         "raise shadow_memory in domd.cfg", dm_.target());
                logged_enomem_ = true;
            }
        }
    }
    stats_.frames_refused += refused;
    if (refused == chunk_pages) {
        // Nothing of the guest is here (beyond its RAM): no frame was placed.
        (void)frames_.free(first, chunk_pages);  // the very run just allocated: cannot fail
        return Err::fault;
    }
    Status mapped;
    if (refused == 0) {
        mapped = mapper_.map_at(va, first.address(), chunk_bytes, MapAttrs::read_write());
    } else {
        // Holes stay unmapped: map each run of frames Xen did place, 4 KiB pages.
        for (uint64_t i = 0; i < chunk_pages && mapped.ok();) {
            if (entry_errors[i] != 0) {
                ++i;
                continue;
            }
            uint64_t run = i;
            while (run < chunk_pages && entry_errors[run] == 0) ++run;
            mapped = mapper_.map_at(va + i * page_size, (first + i).address(), (run - i) * page_size,
                                    MapAttrs::read_write());
            i = run;
        }
        ++stats_.chunks_partial;
    }
    // Recorded even if our own mapping failed: the frames Xen placed must be given back.
    chunk = Chunk::mapped | (refused ? Chunk::partial : 0) | static_cast<uint32_t>(first.value / chunk_pages);
    ++stats_.chunks_mapped;
    return mapped;
}

uint32_t* GuestRam::chunk_entry(uint64_t gpa, size_t group) {
    uint64_t bank_base = gpa >= bank1_base ? bank1_base : bank0_base;
    return &chunk_tables.at(tables_[group])[((gpa - bank_base) % group_bytes) / chunk_bytes];
}

Result<uint8_t*> GuestRam::map_span(uint64_t from, uint64_t to) {
    size_t group = TRY(group_of(from));
    VirtAddr va = TRY(va_of(from));
    if (tables_[group] == 0) tables_[group] = TRY(chunk_tables.take());
    uint32_t chunk = *chunk_entry(from, group);
    if (!(chunk & Chunk::mapped)) {
        ++stats_.misses;
        uint64_t chunk_gpa = align_down(from, chunk_bytes);
        TRY(map_chunk(group, chunk_entry(from, group), chunk_gpa, VirtAddr{align_down(va.value, chunk_bytes)}));
        chunk = *chunk_entry(from, group);
    }
    if (chunk & Chunk::partial) {
        // A chunk with holes: every page of the span must be there.
        for (uint64_t page = align_down(from, page_size); page <= to; page += page_size)
            if (!page_present(VirtAddr{align_down(va.value, page_size) + (page - align_down(from, page_size))}))
                return Err::fault;
    }
    return va.as<uint8_t>();
}

Result<uint8_t*> GuestRam::translate(uint64_t gpa, uint64_t len) {
    if (!reserved_) return Err::not_connected;
    if (len == 0) len = 1;
    if (gpa + len < gpa) return Err::range;
    uint64_t last = gpa + len - 1;
    // Both ends in one bank, so the range is contiguous in domd's space.
    if (!va_of(gpa).ok() || !va_of(last).ok() || (gpa >= bank1_base) != (last >= bank1_base)) {
        ++stats_.faults;
        return Err::fault;
    }
    uint64_t misses = stats_.misses;
    uint8_t* start = nullptr;
    for (uint64_t chunk_gpa = align_down(gpa, chunk_bytes); chunk_gpa <= last; chunk_gpa += chunk_bytes) {
        uint64_t from = gpa > chunk_gpa ? gpa : chunk_gpa;
        uint64_t to = last < chunk_gpa + chunk_bytes - 1 ? last : chunk_gpa + chunk_bytes - 1;
        auto p = map_span(from, to);
        if (!p.ok()) {
            ++stats_.faults;
            return p.error();
        }
        if (!start) start = p.value();
    }
    if (misses == stats_.misses) ++stats_.hits;
    return start;
}

void GuestRam::invalidate() {
    ++stats_.invalidations;
    ++generation_;
    UnmapBatch batch(mapper_);
    for (size_t group = 0; group < groups; ++group) {
        uint16_t id = tables_[group];
        if (!id) continue;
        auto& table = chunk_tables.at(id);
        uint64_t group_gpa = group < bank0_size / group_bytes ? bank0_base + group * group_bytes
                                                               : bank1_base + (group - bank0_size / group_bytes) * group_bytes;
        bool any = false;
        for (size_t i = 0; i < chunks_per_group; ++i) {
            uint32_t chunk = table[i];
            if (!(chunk & Chunk::mapped)) continue;
            any = true;
            VirtAddr va = va_of(group_gpa + i * chunk_bytes).value();
            if (!(chunk & Chunk::partial)) {
                (void)mapper_.unmap_at(va, chunk_bytes);
            } else {
                for (uint64_t p = 0; p < chunk_pages; ++p)
                    if (page_present(va + p * page_size)) (void)mapper_.unmap_at(va + p * page_size, page_size);
            }
        }
        tables_[group] = 0;
        if (any && draining_count_ < draining_.size())
            draining_[draining_count_++] = id;
        else
            chunk_tables.give_back(id);
    }
}

bool GuestRam::draining() const { return draining_count_ > 0; }

bool GuestRam::drain(size_t budget) {
    while (budget > 0 && draining_count_ > 0) {
        auto& table = chunk_tables.at(draining_[0]);
        if (drain_chunk_ == chunks_per_group) {
            chunk_tables.give_back(draining_[0]);
            for (size_t i = 1; i < draining_count_; ++i) draining_[i - 1] = draining_[i];
            --draining_count_;
            drain_chunk_ = 0;
            continue;
        }
        uint32_t chunk = table[drain_chunk_];
        if (!(chunk & Chunk::mapped)) {
            ++drain_chunk_;
            continue;
        }
        uint64_t first = Chunk::first_frame(chunk);
        while (budget > 0 && drain_page_ < chunk_pages) {
            // A hole had nothing placed: Xen says so (a wasted call, only for partial chunks).
            // In a whole chunk every frame was placed: a refusal leaves a page there for good.
            Status removed = hv_.remove_from_physmap(Gfn{first + drain_page_});
            if (removed.ok())
                ++stats_.pages_drained;
            else if (!(chunk & Chunk::partial))
                drain_refused_ = true;
            ++drain_page_;
            --budget;
        }
        if (drain_page_ == chunk_pages) {
            give_back(Gfn{first});
            table[drain_chunk_] = 0;
            drain_page_ = 0;
            ++drain_chunk_;
        }
    }
    return draining_count_ > 0;
}

void GuestRam::give_back(Gfn first) {
    if (drain_refused_) {
        // Xen still holds a page at one of these frames: they must never be handed out again.
        frames_.withhold(first, chunk_pages);
        ++stats_.chunks_withheld;
        drain_refused_ = false;
        LOG_WARN("domain %u: Xen refused to remove a foreign page at frames %#llx+512: kept out of use", dm_.target(),
                 static_cast<unsigned long long>(first.value));
        return;
    }
    if (Status freed = frames_.free(first, chunk_pages); !freed.ok())
        LOG_ERROR("frames %#llx+512 not given back: %s", static_cast<unsigned long long>(first.value),
                  err_name(freed.error()));
}

void GuestRam::release_reservations() {
    if (!reserved_) return;
    (void)mapper_.release(bank0_va_, bank0_size);
    (void)mapper_.release(bank1_va_, bank1_size);
    reserved_ = false;
}

void GuestRam::stop() {
    invalidate();
    while (drain(chunk_pages)) {
    }
    release_reservations();
}

}  // namespace domd::xen
