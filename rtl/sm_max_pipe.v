// Max unit with registers inside (timing closure: MAX_PIPE of softmax_unit, docs/timing.md).
//
// The ceil(log2 N) comparator levels of sm_max_tree, cut into PIPE + 1 parts with a register
// after each of the first PIPE: part p is a row of sm_max_tree instances, each over an aligned
// group of 2^(c(p+1) - c(p)) winners of part p - 1 (of lanes, for part 0), where c(p) is the
// number of comparator levels below cut p. The same comparisons as one sm_max_tree over the N
// lanes, so the same winner (masked lanes never win, the lower index wins ties: groups are in
// lane order and sm_max_tree keeps the lower part on equality), PIPE clock edges later. The
// cuts spread the levels and the subtractors after the tree evenly: c(j) = ceil(j (L+1) / (PIPE+1)).
//
// A winner's lane index: part 0 forms it from the group number and the index inside the group
// (groups are aligned powers of two); later parts select the carried index of the winning input.
// Registers advance with `en` (the unit's global stall enable); the callers delay whatever rides
// beside the tree (the lanes' values and mask) by PIPE registers too.
//
// Rules: 1 <= PIPE <= ceil(log2 N) (softmax_unit checks MAX_PIPE; PIPE = 0 is sm_max_tree alone).
`timescale 1ns / 1ps

module sm_max_pipe #(
    parameter integer N     = 10,
    parameter integer W     = 10,
    parameter integer IDX_W = 4,
    parameter integer PIPE  = 1
) (
    input  wire             clk,
    input  wire             en,
    input  wire [N*W-1:0]   vals,     // lane i at [i*W +: W]
    input  wire [N-1:0]     mask,     // 1 = live lane
    output wire [W-1:0]     max_val,
    output wire [IDX_W-1:0] max_idx,
    output wire             live
);
    localparam integer L = $clog2(N);

    // comparator levels below cut j (c(0) = 0, c(PIPE + 1) = L)
    function integer cut(input integer j);
        cut = (j > PIPE) ? L : (j * (L + 1) + PIPE) / (PIPE + 1);
    endfunction
    // winners (inputs) of part p: one per aligned group of 2^c(p) lanes
    function integer count(input integer p);
        count = (N + (1 << cut(p)) - 1) >> cut(p);
    endfunction

    // inputs of each part, lowest entries first; upper entries of the later parts are unused
    /* verilator lint_off UNUSEDSIGNAL */
    wire [N*W-1:0]     pv [0:PIPE];
    wire [N*IDX_W-1:0] pi [0:PIPE];
    wire [N-1:0]       pl [0:PIPE];
    /* verilator lint_on UNUSEDSIGNAL */
    assign pv[0] = vals;
    assign pi[0] = {N*IDX_W{1'b0}};      // part 0 forms the index from the group number
    assign pl[0] = mask;

    genvar p, g, k;
    generate
        for (p = 0; p <= PIPE; p = p + 1) begin : g_part
            localparam integer B  = cut(p + 1) - cut(p);    // comparator levels of this part
            localparam integer G  = 1 << B;                 // inputs per group
            localparam integer M  = count(p);               // inputs of this part
            localparam integer MO = count(p + 1);           // groups (winners) of this part
            wire [MO*W-1:0]     wv;
            wire [MO*IDX_W-1:0] wi;
            wire [MO-1:0]       wl;
            for (g = 0; g < MO; g = g + 1) begin : g_grp
                localparam integer SZ = (M - g * G < G) ? M - g * G : G;
                wire [IDX_W-1:0] t;
                sm_max_tree #(.N(SZ), .W(W), .IDX_W(IDX_W)) u_tree (
                    .vals(pv[p][g*G*W +: SZ*W]), .mask(pl[p][g*G +: SZ]),
                    .max_val(wv[g*W +: W]), .max_idx(t), .live(wl[g]));
                if (p == 0) begin : g_lane
                    localparam integer BASE = g * G;
                    assign wi[g*IDX_W +: IDX_W] = BASE[IDX_W-1:0] | t;   // t < G: a power-of-two group
                end else begin : g_carried
                    /* verilator lint_off UNUSEDSIGNAL */
                    wire [31:0] sel = g * G + {{(32 - IDX_W){1'b0}}, t};   // input of this part that won
                    /* verilator lint_on UNUSEDSIGNAL */
                    assign wi[g*IDX_W +: IDX_W] = pi[p][sel * IDX_W +: IDX_W];
                end
            end
            if (p < PIPE) begin : g_reg
                // one generate loop of a single pass, so that the registers' names carry
                // their sub-stage g_st[p] (scripts/timing.py); the names end in the stage, 1
                for (k = p; k < p + 1; k = k + 1) begin : g_st
                    reg [MO*W-1:0]     mv1;
                    reg [MO*IDX_W-1:0] mi1;
                    reg [MO-1:0]       ml1;
                    always @(posedge clk) if (en) begin
                        mv1 <= wv;
                        mi1 <= wi;
                        ml1 <= wl;
                    end
                    if (MO < N) begin : g_pad
                        assign pv[p+1] = {{(N - MO)*W{1'b0}}, mv1};
                        assign pi[p+1] = {{(N - MO)*IDX_W{1'b0}}, mi1};
                        assign pl[p+1] = {{(N - MO){1'b0}}, ml1};
                    end else begin : g_full
                        assign pv[p+1] = mv1;
                        assign pi[p+1] = mi1;
                        assign pl[p+1] = ml1;
                    end
                end
            end else begin : g_out
                assign max_val = wv;         // MO = 1
                assign max_idx = wi;
                assign live    = wl;
            end
        end
    endgenerate
endmodule
