// Max unit (paper Fig. 3): a binary tree of two-input comparators over the live lanes.
//
// Built recursively: each instance splits its lanes into a lower part of 2^(ceil(log2 N)-1)
// lanes (a power of two) and an upper part with the rest, and one comparator picks between the
// two winners, so the tree has ceil(log2 N) comparator levels. Because the lower part is a power
// of two larger than any upper-part index, the winner's index is formed by OR-ing in one bit
// (no adder). Every node has its own small ports: Icarus evaluates that far faster than
// one tree indexed out of a shared wide vector.
//
// Rules (docs/numerics.md, section 3 step 1):
//  - masked lanes never win;
//  - on equal values the lower index wins (the upper half must be strictly greater);
//  - with no live lane, every node keeps its lower half, so the index is 0; `live` is then 0.
// Combinational. Values are two's complement.
`timescale 1ns / 1ps

module sm_max_tree #(
    parameter integer N     = 10,   // lanes under this node
    parameter integer W     = 10,   // value width
    parameter integer IDX_W = 4     // index width (of the whole tree)
) (
    input  wire [N*W-1:0]   vals,   // lane i at [i*W +: W]
    input  wire [N-1:0]     mask,   // 1 = live lane
    output wire [W-1:0]     max_val,
    output wire [IDX_W-1:0] max_idx, // relative to lane 0 of this node
    output wire             live     // at least one lane of this node is live
);
    generate
        if (N == 1) begin : g_leaf
            assign max_val = vals;
            assign max_idx = {IDX_W{1'b0}};
            assign live    = mask[0];
        end else begin : g_node
            localparam integer NL = 1 << ($clog2(N) - 1);  // lower part: lanes 0 .. NL-1
            localparam integer NU = N - NL;                // upper part: lanes NL .. N-1 (NU <= NL)

            wire [W-1:0]     lo_val, up_val;
            wire [IDX_W-1:0] lo_idx, up_idx;
            wire             lo_live, up_live;

            sm_max_tree #(.N(NL), .W(W), .IDX_W(IDX_W)) u_lo (
                .vals(vals[NL*W-1:0]), .mask(mask[NL-1:0]),
                .max_val(lo_val), .max_idx(lo_idx), .live(lo_live));
            sm_max_tree #(.N(NU), .W(W), .IDX_W(IDX_W)) u_up (
                .vals(vals[N*W-1:NL*W]), .mask(mask[N-1:NL]),
                .max_val(up_val), .max_idx(up_idx), .live(up_live));

            // Upper half wins only when live and strictly greater (or the lower half is empty).
            wire take_up = up_live && (!lo_live || ($signed(up_val) > $signed(lo_val)));
            localparam [IDX_W-1:0] OFFSET = NL[IDX_W-1:0];

            assign max_val = take_up ? up_val : lo_val;
            assign max_idx = take_up ? (up_idx | OFFSET) : lo_idx;
            assign live    = lo_live | up_live;
        end
    endgenerate
endmodule
