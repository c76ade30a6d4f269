// Decoding for the crash report (arch/arm64/exceptions.cpp): what a vector, an ESR_EL1 and the
// DAIF masks say, as text. Pure functions of register values, so host tests check them.
#pragma once

#include <cstddef>
#include <cstdint>

namespace domd::arm64 {

// The vector table entry (arch/arm64/exception_frame.h's VectorKind), e.g. "SError".
const char* vector_name(unsigned kind);

// ESR_EL1.EC, e.g. "data abort".
const char* exception_class_name(unsigned ec);

// Whether FAR_EL1 holds the faulting address for this syndrome (aborts without FnV, PC
// alignment, watchpoints); for anything else, an SError included, FAR is UNKNOWN.
bool far_is_valid(uint64_t esr);

// What the syndrome says beyond its class, in one line: the fault and address of an abort,
// the error type of an SError. Returns false (and writes nothing) for other classes.
bool describe_syndrome(uint64_t esr, uint64_t far, char* out, size_t size);

// The DAIF masks, e.g. "exception masks (DAIF 0x2c0): debug masked, SError unmasked, IRQ
// masked, FIQ masked". The boot log prints it once the vectors are in and SError is unmasked.
void describe_exception_masks(uint64_t daif, char* out, size_t size);

}  // namespace domd::arm64
