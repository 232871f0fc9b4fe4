// DPI-C block loader for tb/hdl/softmax_harness.v (task load_block), Verilator builds only
// (tb/build.py adds this file to them; Icarus keeps $fread).
//
// Why: Verilator's $fread into a memory reads one byte per fgetc call, a visible share of the
// simulator process at every N. Here the block file is read with one fread, and each word is
// converted in 32-bit steps.
//
// File layout: the one defined by tb/codec.py (encode_stimulus, encode_expected): word after
// word, each stored big-endian in whole bytes (word_bytes = (W + 7) / 8, most significant byte
// first, pad bits above W zero).
// Word layout handed back: the DPI canonical form of an `output bit [W-1:0]` argument (IEEE
// 1800 Annex H, svBitVecVal): ceil(W/32) 32-bit chunks, chunk 0 holding bits [31:0]. Verilator
// sizes the argument ceil(W/32) chunks, which is ceil(word_bytes/4).
#include "svdpi.h"

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

namespace {

std::vector<unsigned char> g_buf;   // the block read last (one file at a time: load_block copies
int g_word_bytes = 0;               // every word out before it reads the next file)
int g_words = 0;

void copy_word(int idx, svBitVecVal* out) {
    const int nb = g_word_bytes;
    const int chunks = (nb + 3) / 4;
    if (idx < 0 || idx >= g_words) {   // load_block never asks for one, but never read past the buffer
        std::memset(out, 0, sizeof(svBitVecVal) * chunks);
        return;
    }
    const unsigned char* end = g_buf.data() + static_cast<size_t>(idx + 1) * nb;   // after the LSB
    for (int c = 0; c < chunks; ++c) {
        // chunk c is the (up to) 4 bytes ending 4*c bytes before the word's end, big-endian
        const int take = (c == chunks - 1 && nb % 4) ? nb % 4 : 4;
        const unsigned char* p = end - 4 * c - take;
        uint32_t v = 0;
        for (int k = 0; k < take; ++k) v = (v << 8) | p[k];
        out[c] = v;
    }
}

}  // namespace

// Read at most max_bytes of path (a block of max_bytes / word_bytes words), as
// $fread(mem, fd, 0, count) would. Returns the bytes read, -1 when the file cannot be opened.
extern "C" int smx_block_read(const char* path, int word_bytes, int max_bytes) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return -1;
    if (g_buf.size() < static_cast<size_t>(max_bytes)) g_buf.resize(max_bytes);
    const size_t got = std::fread(g_buf.data(), 1, max_bytes, f);
    std::fclose(f);
    g_word_bytes = word_bytes;
    g_words = static_cast<int>(got / word_bytes);
    return static_cast<int>(got);
}

// Word idx of the block read last, one entry point per argument width: Verilator rejects one C
// function imported twice with different signatures (bit [STIM_W-1:0], bit [EXP_W-1:0]).
extern "C" void smx_block_stim_word(int idx, svBitVecVal* word) { copy_word(idx, word); }
extern "C" void smx_block_exp_word(int idx, svBitVecVal* word) { copy_word(idx, word); }
