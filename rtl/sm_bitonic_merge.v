// Bitonic merger: sorts a bitonic sequence of L = 2^k unsigned values into descending order
// (element 0 the largest) with (L/2)*log2(L) compare-exchange units. Recursive: one half-cleaner
// (max of x[j], x[j+L/2] to the upper half, min to the lower half), then each half again.
// Combinational.
`timescale 1ns / 1ps

module sm_bitonic_merge #(
    parameter integer L  = 4,    // elements, a power of two
    parameter integer VW = 11    // value width
) (
    input  wire [L*VW-1:0] x,    // element j at [j*VW +: VW]
    output wire [L*VW-1:0] y     // descending: y[0] >= y[1] >= ...
);
    generate
        if (L == 1) begin : g_leaf
            assign y = x;
        end else begin : g_node
            localparam integer H = L / 2;
            wire [H*VW-1:0] hi, lo;
            genvar j;
            for (j = 0; j < H; j = j + 1) begin : g_ce
                wire [VW-1:0] a = x[j*VW +: VW];
                wire [VW-1:0] b = x[(j+H)*VW +: VW];
                wire          a_ge = (a >= b);
                assign hi[j*VW +: VW] = a_ge ? a : b;
                assign lo[j*VW +: VW] = a_ge ? b : a;
            end
            sm_bitonic_merge #(.L(H), .VW(VW)) u_hi (.x(hi), .y(y[H*VW-1:0]));
            sm_bitonic_merge #(.L(H), .VW(VW)) u_lo (.x(lo), .y(y[L*VW-1:H*VW]));
        end
    endgenerate
endmodule
