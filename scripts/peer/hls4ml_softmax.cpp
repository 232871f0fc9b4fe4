// C-simulation harness for hls4ml's softmax (nnet::softmax from the installed hls4ml package).
//
// Our own harness: it includes hls4ml's headers from the installed PyPI package (include path
// into site-packages, set by scripts/peer_hls4ml.py); nothing from hls4ml is copied here.
// Every type and table size comes in as a macro, chosen by scripts/peer_hls4ml.py the way
// hls4ml's Vivado backend configures a softmax layer by default (see that script):
//
//   SM_N           lanes (n_in = n_slice)
//   SM_IN_W/SM_IN_I    input type ap_fixed<SM_IN_W, SM_IN_I> (I includes the sign bit)
//   SM_OUT_W/SM_OUT_I  result type ap_fixed<SM_OUT_W, SM_OUT_I>
//   SM_IMPL        stable | latency
//   SM_EXP_TABLE, SM_INV_TABLE   exp / reciprocal table entries
//   SM_TABLE_W/SM_TABLE_I        exp_table_t, inv_table_t, inv_inp_t, accum_t:
//                                ap_fixed<SM_TABLE_W, SM_TABLE_I, AP_RND, AP_SAT>
//   SM_NORM_W/SM_NORM_I          inp_norm_t = ap_ufixed<SM_NORM_W, SM_NORM_I> (stable only)
//
// I/O (text): stdin holds "M N" then M*N integer input codes (two's complement values of the
// input type, i.e. value * 2^(SM_IN_W - SM_IN_I)), row by row. stdout gets M lines of N outputs,
// each the exact value of the result type printed with 17 significant digits.
// Any malformed input ends the program with a message on stderr and exit status 2.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include "ap_fixed.h"
#include "nnet_utils/nnet_activation.h"

#ifndef SM_N
#error "SM_N (lanes) is not defined"
#endif

typedef ap_fixed<SM_IN_W, SM_IN_I> input_t;
typedef ap_fixed<SM_OUT_W, SM_OUT_I> result_t;

struct softmax_config : nnet::activ_config {
    static const unsigned n_in = SM_N;
    static const unsigned n_slice = SM_N;
    static const unsigned n_outer = 1;
    static const unsigned n_inner = 1;
    static const unsigned parallelization_factor = 1;
    static const unsigned exp_table_size = SM_EXP_TABLE;
    static const unsigned inv_table_size = SM_INV_TABLE;
    static const unsigned io_type = nnet::io_parallel;
    static const unsigned reuse_factor = 1;
    static const unsigned axis = 0;
    static const nnet::softmax_implementation implementation = nnet::softmax_implementation::SM_IMPL;
    static constexpr float exp_scale = 1.0;
    typedef ap_fixed<SM_TABLE_W, SM_TABLE_I, AP_RND, AP_SAT> exp_table_t;
    typedef ap_fixed<SM_TABLE_W, SM_TABLE_I, AP_RND, AP_SAT> inv_table_t;
    typedef ap_fixed<SM_TABLE_W, SM_TABLE_I, AP_RND, AP_SAT> accum_t;
    typedef ap_fixed<SM_TABLE_W, SM_TABLE_I, AP_RND, AP_SAT> inv_inp_t;
    typedef ap_ufixed<SM_NORM_W, SM_NORM_I> inp_norm_t;
};

static int fail(const char *what, long long row) {
    std::fprintf(stderr, "hls4ml_softmax: %s (row %lld)\n", what, row);
    return 2;
}

int main() {
    std::ios::sync_with_stdio(false);
    long long m = 0, n = 0;
    if (!(std::cin >> m >> n)) return fail("input does not start with 'M N'", -1);
    if (n != SM_N) return fail("N in the input differs from the compiled SM_N", -1);
    if (m < 0) return fail("negative row count", -1);
    const long long lo = -(1LL << (SM_IN_W - 1)), hi = (1LL << (SM_IN_W - 1)) - 1;
    const double lsb = std::ldexp(1.0, -(SM_IN_W - SM_IN_I));
    input_t data[SM_N];
    result_t res[SM_N];
    for (long long r = 0; r < m; r++) {
        for (int i = 0; i < SM_N; i++) {
            long long code;
            if (!(std::cin >> code)) return fail("fewer codes than M*N", r);
            if (code < lo || code > hi) return fail("input code outside the input type's range", r);
            data[i] = input_t(code * lsb);  // exact: the code is a multiple of the LSB in range
        }
        nnet::softmax<input_t, result_t, softmax_config>(data, res);
        for (int i = 0; i < SM_N; i++) {
            char buf[40];
            std::snprintf(buf, sizeof buf, "%.17g", res[i].to_double());
            std::cout << buf << (i + 1 < SM_N ? ' ' : '\n');
        }
    }
    long long extra;
    if (std::cin >> extra) return fail("more codes than M*N", m);
    return std::cout.good() ? 0 : fail("cannot write the output", m);
}
