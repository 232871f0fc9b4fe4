// Adder tree with registers inside (timing closure: SUM_PIPE of softmax_unit, docs/timing.md).
//
// S3 of a log-domain unit is the sum's ceil(log2 N) adder levels followed by the ln look-up,
// which counts as one more level: L + 1 levels, cut into PIPE + 1 parts with a register after
// each of the first PIPE. Cut j lies after c(j) = ceil(j (L+1) / (PIPE+1)) adder levels
// (c(j) <= L); a cut at c = L registers the whole sum, between the tree and the ln look-up,
// and the last part of the tree is then empty. Part p is a row of sm_adder_tree instances, each
// over an aligned group of 2^(c(p+1) - c(p)) partial sums of part p - 1 (of terms, for part 0).
// Addition is exact and every partial sum is as wide as its largest value needs, so the sum is
// that of one sm_adder_tree over the N terms, PIPE clock edges later.
//
// Widths: a partial sum of a group of 2^c terms (each <= 2^FRAC) is <= 2^(FRAC + c), so it is
// kept in FRAC + c + 1 bits; the output is truncated to SW = FRAC + ceil(log2(N+1)) bits,
// exact since the sum is <= N * 2^FRAC.
// Registers advance with `en` (the unit's global stall enable); the caller delays whatever
// rides beside the sum (delta, mask, argmax) by PIPE registers too.
//
// Rules: 1 <= PIPE <= ceil(log2 N) (softmax_unit checks SUM_PIPE; PIPE = 0 is sm_adder_tree alone).
`timescale 1ns / 1ps

module sm_sum_pipe #(
    parameter integer N    = 10,
    parameter integer VW   = 11,   // input width (FRAC + 1)
    parameter integer FRAC = 10,
    parameter integer PIPE = 1,
    // Derived (do not override): width of the sum.
    parameter integer SW   = FRAC + $clog2(N + 1)
) (
    input  wire            clk,
    input  wire            en,
    input  wire [N*VW-1:0] x,      // element i at [i*VW +: VW]
    output wire [SW-1:0]   sum
);
    localparam integer L  = $clog2(N);
    localparam integer PW = FRAC + L + 1;          // widest partial sum (slots of every row)

    // adder levels below cut j (c(0) = 0, c(PIPE + 1) = L)
    function integer cut(input integer j);
        cut = (j > PIPE) ? L : (j * (L + 1) + PIPE) / (PIPE + 1);
    endfunction
    // partial sums (inputs) of part p: one per aligned group of 2^c(p) terms
    function integer count(input integer p);
        count = (N + (1 << cut(p)) - 1) >> cut(p);
    endfunction

    // inputs of each part, one PW-bit slot each, lowest first; slots past count(p) and the
    // high bits of a slot above its values' width are unused
    /* verilator lint_off UNUSEDSIGNAL */
    wire [N*PW-1:0] pv [0:PIPE];
    /* verilator lint_on UNUSEDSIGNAL */

    genvar p, g, k, t;
    generate
        // the terms in PW-bit slots (PW > VW: N >= 2)
        wire [N*PW-1:0] xs;
        for (t = 0; t < N; t = t + 1) begin : g_in
            assign xs[t*PW +: PW] = {{(PW - VW){1'b0}}, x[t*VW +: VW]};
        end
        assign pv[0] = xs;
        for (p = 0; p <= PIPE; p = p + 1) begin : g_part
            localparam integer C0 = cut(p);                 // adder levels below this part
            localparam integer B  = cut(p + 1) - C0;        // adder levels of this part (0: the last part after a cut at L)
            localparam integer G  = 1 << B;                 // inputs per group
            localparam integer M  = count(p);               // inputs of this part
            localparam integer MO = count(p + 1);           // groups (partial sums out) of this part
            localparam integer IW = FRAC + C0 + 1;          // input width of this part
            // (the last part's slot is wider than the sum: its bits above SW are zero)
            /* verilator lint_off UNUSEDSIGNAL */
            wire [MO*PW-1:0] ws;
            /* verilator lint_on UNUSEDSIGNAL */
            for (g = 0; g < MO; g = g + 1) begin : g_grp
                localparam integer SZ  = (M - g * G < G) ? M - g * G : G;
                localparam integer OW  = FRAC + C0 + $clog2(SZ + 1);   // sm_adder_tree's sum width
                wire [SZ*IW-1:0] xin;
                wire [OW-1:0]    s;
                for (t = 0; t < SZ; t = t + 1) begin : g_sl
                    assign xin[t*IW +: IW] = pv[p][(g*G + t)*PW +: IW];
                end
                sm_adder_tree #(.N(SZ), .VW(IW), .FRAC(FRAC + C0)) u_tree (.x(xin), .sum(s));
                // OW <= FRAC + c(p+1) + 1 <= PW
                if (OW < PW) begin : g_ext
                    assign ws[g*PW +: PW] = {{(PW - OW){1'b0}}, s};
                end else begin : g_same
                    assign ws[g*PW +: PW] = s;
                end
            end
            if (p < PIPE) begin : g_reg
                // one generate loop of a single pass, so that the registers' names carry
                // their sub-stage g_st[p] (scripts/timing.py); the names end in the stage, 3
                for (k = p; k < p + 1; k = k + 1) begin : g_st
                    reg [MO*PW-1:0] ps3;
                    always @(posedge clk) if (en) ps3 <= ws;
                    if (MO < N) begin : g_pad
                        assign pv[p+1] = {{(N - MO)*PW{1'b0}}, ps3};
                    end else begin : g_full
                        assign pv[p+1] = ps3;
                    end
                end
            end else begin : g_out
                // MO = 1; the sum is <= N * 2^FRAC < 2^SW, the bits above SW are zero
                assign sum = ws[SW-1:0];
            end
        end
    endgenerate
endmodule
