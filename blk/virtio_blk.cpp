#include "blk/virtio_blk.h"

#include <cstring>

namespace domd::blk {
namespace {

using virtio::HostBytes;

// Copies `len` bytes at `offset` of a byte stream made of `spans` into `out`. False if the
// stream is shorter.
bool copy_from_stream(std::span<const HostBytes> spans, uint64_t offset, void* out, size_t len) {
    auto* to = static_cast<uint8_t*>(out);
    for (const HostBytes& span : spans) {
        if (len == 0) break;
        if (offset >= span.size()) {
            offset -= span.size();
            continue;
        }
        const size_t n = span.size() - offset < len ? span.size() - offset : len;
        std::memcpy(to, span.data() + offset, n);
        to += n;
        len -= n;
        offset = 0;
    }
    return len == 0;
}

// Writes `len` bytes of `in` at the start of a stream made of `spans`; returns how many fit.
size_t copy_to_stream(std::span<const HostBytes> spans, const uint8_t* in, size_t len) {
    size_t done = 0;
    for (const HostBytes& span : spans) {
        if (done == len) break;
        const size_t n = span.size() < len - done ? span.size() : len - done;
        std::memcpy(span.data(), in + done, n);
        done += n;
    }
    return done;
}

}  // namespace

VirtioBlk::VirtioBlk(BlockDevice& disk, virtio::GuestMemory& memory, const VirtioBlkOptions& options)
    : disk_(disk), memory_(memory) {
    queues_ = options.queues == 0 ? 1 : options.queues;
    if (queues_ > virtio::limits::max_queues) queues_ = virtio::limits::max_queues;
    queue_size_ = options.queue_size == 0 ? 1 : options.queue_size;
    if (queue_size_ > virtio::limits::max_queue_size) queue_size_ = virtio::limits::max_queue_size;
    max_discard_sectors_ = options.max_discard_sectors;
    max_write_zeroes_sectors_ = options.max_write_zeroes_sectors;
    for (size_t i = 0; i < options.id.size() && i < id_bytes; ++i) id_[i] = static_cast<uint8_t>(options.id[i]);

    // TOPOLOGY (section 5.2.4): memory has no larger physical block and no preferred IO size;
    // the smallest IO worth doing is one logical block.
    features_ = blk_features::seg_max | blk_features::blk_size | blk_features::topology;
    if (options.size_max != 0) features_ |= blk_features::size_max;
    if (options.flush) features_ |= blk_features::flush;
    if (disk.read_only()) features_ |= blk_features::ro;
    if (queues_ > 1) features_ |= blk_features::mq;
    const bool discard = options.discard && disk.supports_discard();
    if (discard) features_ |= blk_features::discard | blk_features::write_zeroes;

    config_.capacity = disk.capacity_sectors();
    config_.size_max = options.size_max;
    config_.seg_max = limits::max_data_segments;
    config_.blk_size = options.block_size;
    config_.physical_block_exp = 0;
    config_.alignment_offset = 0;
    config_.min_io_size = 1;
    config_.opt_io_size = 0;
    config_.num_queues = queues_;
    if (discard) {
        const uint32_t alignment = options.block_size / sector_size;
        config_.max_discard_sectors = max_discard_sectors_;
        config_.max_discard_seg = limits::max_discard_segments;
        config_.discard_sector_alignment = alignment == 0 ? 1 : alignment;
        config_.max_write_zeroes_sectors = max_write_zeroes_sectors_;
        config_.max_write_zeroes_seg = limits::max_discard_segments;
        config_.write_zeroes_may_unmap = 1;
    }

    for (auto& request : requests_) {
        request.next_free = free_;
        free_ = &request;
        request.io.complete = Callback<void(BlockIo&, Status)>::to<&VirtioBlk::on_complete>(this);
        request.io.owner = &request;
    }
}

std::span<const uint8_t> VirtioBlk::config_space() const {
    return {reinterpret_cast<const uint8_t*>(&config_), sizeof config_};
}

bool VirtioBlk::accept_features(uint64_t negotiated) {
    negotiated_ = negotiated;
    return true;
}

void VirtioBlk::reset() { negotiated_ = 0; }

BlkStats VirtioBlk::totals() const {
    BlkStats sum;
    for (const BlkStats& s : stats_) {
        for (int k = 0; k < request_kinds; ++k) sum.requests[k] += s.requests[k];
        sum.bytes_read += s.bytes_read;
        sum.bytes_written += s.bytes_written;
        sum.ok += s.ok;
        sum.err_malformed += s.err_malformed;
        sum.err_range += s.err_range;
        sum.err_read_only += s.err_read_only;
        sum.err_media += s.err_media;
        sum.err_unmappable += s.err_unmappable;
        sum.err_bad_chain += s.err_bad_chain;
        sum.unsupported += s.unsupported;
        sum.unanswerable += s.unanswerable;
        sum.slot_waits += s.slot_waits;
        sum.multi_segment += s.multi_segment;
    }
    return sum;
}

BlkStats& VirtioBlk::stats_for(const Request& request) { return stats_[request.queue->index()]; }

virtio::ProcessResult VirtioBlk::process(virtio::Virtqueue& queue, uint32_t budget) {
    virtio::ProcessResult result;
    while (result.popped < budget) {
        if (free_ == nullptr) {
            result.out_of_slots = true;
            ++stats_[queue.index()].slot_waits;
            break;
        }
        if (queue.pop(chain_) != virtio::PopStatus::chain) break;
        ++result.popped;
        Request& request = *free_;
        free_ = request.next_free;
        ++in_flight_;
        start(request, queue, chain_);
    }
    return result;
}

void VirtioBlk::start(Request& request, virtio::Virtqueue& queue, const virtio::Chain& chain) {
    request.queue = &queue;
    request.token = chain.token;
    request.kind = RequestKind::unsupported;
    request.status = nullptr;
    request.ranges = request.readable = 0;
    request.readable_bytes = chain.readable_bytes;
    request.writable_bytes = chain.writable_bytes;
    request.data_written = 0;
    request.data_bytes = 0;
    request.segment_count = request.next_segment = 0;

    if (chain.fault != virtio::ChainFault::none) return reject_chain(request, chain, &BlkStats::err_bad_chain);
    // The status byte is the last byte of the device-writable part (section 5.2.6).
    if (chain.writable_bytes == 0) return reject_chain(request, chain, &BlkStats::err_malformed);
    if (!memory_.map_request(chain.all(), {request.host, chain.count}, request.mapping).ok())
        return reject_chain(request, chain, &BlkStats::err_unmappable);
    request.ranges = chain.count;
    request.readable = chain.readable_count;
    HostBytes& last = request.host[request.ranges - 1];
    if (last.size() != chain.ranges[chain.count - 1].len) {  // GuestMemory broke its contract
        memory_.unmap_request(request.mapping);
        return reject_chain(request, chain, &BlkStats::err_unmappable);
    }
    request.status = &last[last.size() - 1];

    VirtioBlkReqHeader header;
    if (!copy_from_stream({request.host, request.readable}, 0, &header, sizeof header))
        return finish(request, blk_status::ioerr, &BlkStats::err_malformed);

    switch (header.type) {
        case request_type::in:
            request.kind = RequestKind::in;
            ++stats_for(request).requests[static_cast<int>(request.kind)];
            start_read_write(request, header, false);
            return;
        case request_type::out:
            request.kind = RequestKind::out;
            ++stats_for(request).requests[static_cast<int>(request.kind)];
            start_read_write(request, header, true);
            return;
        case request_type::flush:
            // Section 5.2.6.1: sector is 0 and there is no data; neither matters to us.
            request.kind = RequestKind::flush;
            ++stats_for(request).requests[static_cast<int>(request.kind)];
            request.io.op = BlockOp::flush;
            request.io.sector = request.io.sectors = 0;
            request.io.buffers = {};
            run(request);
            return;
        case request_type::get_id:
            request.kind = RequestKind::get_id;
            ++stats_for(request).requests[static_cast<int>(request.kind)];
            answer_get_id(request);
            return;
        case request_type::discard:
        case request_type::write_zeroes: {
            const bool discard = header.type == request_type::discard;
            request.kind = discard ? RequestKind::discard : RequestKind::write_zeroes;
            ++stats_for(request).requests[static_cast<int>(request.kind)];
            if (!(negotiated_ & (discard ? blk_features::discard : blk_features::write_zeroes)))
                return finish(request, blk_status::unsupp, &BlkStats::unsupported);
            start_segments(request, discard);
            return;
        }
        default:
            ++stats_for(request).requests[static_cast<int>(RequestKind::unsupported)];
            return finish(request, blk_status::unsupp, &BlkStats::unsupported);
    }
}

void VirtioBlk::start_read_write(Request& request, const VirtioBlkReqHeader& header, bool write) {
    // IN: header readable, data and status writable. OUT: header and data readable, status
    // writable. Data on the wrong side is a malformed request, not a shorter transfer.
    const uint64_t readable = request.readable_bytes;
    const uint64_t data = write ? readable - sizeof header : request.writable_bytes - 1u;
    if (write ? request.writable_bytes != 1 : readable != sizeof header)
        return finish(request, blk_status::ioerr, &BlkStats::err_malformed);
    // Section 5.2.6.2: a write to a read-only device fails and writes nothing.
    if (write && disk_.read_only()) return finish(request, blk_status::ioerr, &BlkStats::err_read_only);
    if (data % sector_size != 0) return finish(request, blk_status::ioerr, &BlkStats::err_malformed);
    const uint64_t capacity = disk_.capacity_sectors();
    const uint64_t sectors = data / sector_size;
    if (header.sector > capacity || sectors > capacity - header.sector)
        return finish(request, blk_status::ioerr, &BlkStats::err_range);
    request.data_bytes = data;
    if (data == 0) return finish(request, blk_status::ok, &BlkStats::ok);

    // The data buffers, in place: the header's bytes are cut from the front of the readable
    // spans (OUT), or the status byte from the back of the writable ones (IN).
    HostBytes* first;
    size_t count;
    if (write) {
        uint64_t skip = sizeof header;
        size_t i = 0;
        while (i < request.readable && skip >= request.host[i].size()) skip -= request.host[i++].size();
        request.host[i] = request.host[i].subspan(skip);
        first = request.host + i;
        count = request.readable - i;
    } else {
        first = request.host + request.readable;
        count = request.ranges - request.readable;
        HostBytes& last = first[count - 1];
        if (last.size() == 1) --count;
        else last = last.first(last.size() - 1);
    }
    if (count > 1) ++stats_for(request).multi_segment;
    request.io.op = write ? BlockOp::write : BlockOp::read;
    request.io.sector = header.sector;
    request.io.sectors = sectors;
    request.io.unmap = false;
    request.io.buffers = {first, count};
    run(request);
}

void VirtioBlk::answer_get_id(Request& request) {
    // Section 5.2.6: 20 bytes of NUL-padded ASCII into the data (which should be 20 long).
    const size_t room = request.writable_bytes - 1u;
    if (room == 0) return finish(request, blk_status::ioerr, &BlkStats::err_malformed);
    const size_t n = room < id_bytes ? room : id_bytes;
    // The status byte is the last writable byte and is written last, so it may be overwritten.
    request.data_written =
        static_cast<uint32_t>(copy_to_stream({request.host + request.readable, size_t(request.ranges - request.readable)}, id_, n));
    finish(request, blk_status::ok, &BlkStats::ok);
}

void VirtioBlk::start_segments(Request& request, bool discard) {
    const uint64_t data = request.readable_bytes - sizeof(VirtioBlkReqHeader);
    const uint64_t count = data / sizeof(VirtioBlkDiscardSegment);
    if (request.writable_bytes != 1 || data == 0 || data % sizeof(VirtioBlkDiscardSegment) != 0 ||
        count > limits::max_discard_segments)
        return finish(request, blk_status::ioerr, &BlkStats::err_malformed);
    for (uint32_t i = 0; i < count; ++i) {
        VirtioBlkDiscardSegment& segment = request.segments[i];
        if (!copy_from_stream({request.host, request.readable}, sizeof(VirtioBlkReqHeader) + i * sizeof segment,
                              &segment, sizeof segment))
            return finish(request, blk_status::ioerr, &BlkStats::err_malformed);
        // Section 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP.
        const uint32_t allowed = discard ? 0u : segment_flag_unmap;
        if (segment.flags & ~allowed) return finish(request, blk_status::unsupp, &BlkStats::unsupported);
    }
    if (disk_.read_only()) return finish(request, blk_status::ioerr, &BlkStats::err_read_only);
    const uint64_t capacity = disk_.capacity_sectors();
    const uint32_t max_sectors = discard ? max_discard_sectors_ : max_write_zeroes_sectors_;
    for (uint32_t i = 0; i < count; ++i) {
        const VirtioBlkDiscardSegment& segment = request.segments[i];
        if (segment.num_sectors > max_sectors) return finish(request, blk_status::ioerr, &BlkStats::err_malformed);
        if (segment.sector > capacity || segment.num_sectors > capacity - segment.sector)
            return finish(request, blk_status::ioerr, &BlkStats::err_range);
    }
    request.segment_count = static_cast<uint32_t>(count);
    request.next_segment = 0;
    request.io.op = discard ? BlockOp::discard : BlockOp::write_zeroes;
    request.io.buffers = {};
    run(request);
}

// Submits the request's IO (one step, or one step per segment), coping with completions that
// run inside submit() without recursing.
void VirtioBlk::run(Request& request) {
    for (;;) {
        if (request.segment_count != 0) {
            const VirtioBlkDiscardSegment& segment = request.segments[request.next_segment];
            request.io.sector = segment.sector;
            request.io.sectors = segment.num_sectors;
            request.io.unmap = (segment.flags & segment_flag_unmap) != 0;
        }
        request.in_submit = true;
        request.completed_inline = false;
        const Status submitted = disk_.submit(request.io);
        request.in_submit = false;
        if (!submitted.ok()) return finish(request, blk_status::ioerr, &BlkStats::err_media);
        if (!request.completed_inline) return;  // on_complete() carries on
        if (!request.inline_ok) return finish(request, blk_status::ioerr, &BlkStats::err_media);
        if (request.segment_count != 0 && ++request.next_segment < request.segment_count) continue;
        return succeed(request);
    }
}

void VirtioBlk::on_complete(BlockIo& io, Status result) {
    Request& request = *static_cast<Request*>(io.owner);
    if (request.in_submit) {
        request.completed_inline = true;
        request.inline_ok = result.ok();
        return;
    }
    if (!result.ok()) return finish(request, blk_status::ioerr, &BlkStats::err_media);
    if (request.segment_count != 0 && ++request.next_segment < request.segment_count) return run(request);
    succeed(request);
}

void VirtioBlk::succeed(Request& request) {
    if (request.kind == RequestKind::in) {
        request.data_written = static_cast<uint32_t>(request.data_bytes);
        stats_for(request).bytes_read += request.data_bytes;
    } else if (request.kind == RequestKind::out) {
        stats_for(request).bytes_written += request.data_bytes;
    }
    finish(request, blk_status::ok, &BlkStats::ok);
}

// Writes the status, unmaps every buffer, and only then hands the chain back (section 2.7.8
// and grant-based virtio: the driver may revoke the grants as soon as it sees the used entry).
void VirtioBlk::finish(Request& request, uint8_t status, uint64_t BlkStats::*counter) {
    ++(stats_for(request).*counter);
    *request.status = status;
    memory_.unmap_request(request.mapping);
    // Section 2.7.8.2: len is a lower bound of the bytes written from the start of the
    // device-writable part; data then status when they are contiguous, the data alone if not.
    const uint32_t written = request.data_written + 1 == request.writable_bytes ? request.writable_bytes
                                                                                : request.data_written;
    request.queue->push(request.token, written);
    release(request);
}

void VirtioBlk::reject_chain(Request& request, const virtio::Chain& chain, uint64_t BlkStats::*counter) {
    BlkStats& stats = stats_for(request);
    if (chain.has_status_byte) {
        HostBytes status;
        virtio::RequestMapping mapping;
        if (memory_.map_request({&chain.status_byte, 1}, {&status, 1}, mapping).ok()) {
            if (!status.empty()) {
                status[0] = blk_status::ioerr;
                memory_.unmap_request(mapping);
                ++(stats.*counter);
                request.queue->push(request.token, chain.writable_bytes == 1 ? 1 : 0);
                release(request);
                return;
            }
            memory_.unmap_request(mapping);
        }
    }
    // Nowhere to say what went wrong: the queue is broken and the device needs a reset.
    ++stats.unanswerable;
    request.queue->fail_chain(request.token);
    release(request);
}

void VirtioBlk::release(Request& request) {
    request.queue = nullptr;
    request.next_free = free_;
    free_ = &request;
    --in_flight_;
}

}  // namespace domd::blk
