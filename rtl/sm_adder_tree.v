// Sum of N unsigned values, each at most 2^FRAC (an exp look-up, 1.0 = 2^FRAC), as a balanced
// binary adder tree. Every partial sum of n values is FRAC + ceil(log2(n+1)) bits wide, the
// width of n * 2^FRAC, so no adder is wider than its operands can make it.
// Combinational.
`timescale 1ns / 1ps

module sm_adder_tree #(
    parameter integer N    = 10,
    parameter integer VW   = 11,   // input width (FRAC + 1)
    parameter integer FRAC = 10,
    // Derived (do not override): width of the sum.
    parameter integer SW   = FRAC + $clog2(N + 1)
) (
    input  wire [N*VW-1:0] x,      // element i at [i*VW +: VW]
    output wire [SW-1:0]   sum
);
    generate
        if (N == 1) begin : g_leaf
            assign sum = x;
        end else begin : g_node
            localparam integer NA  = 1 << ($clog2(N) - 1);
            localparam integer NB  = N - NA;
            localparam integer SWA = FRAC + $clog2(NA + 1);
            localparam integer SWB = FRAC + $clog2(NB + 1);
            wire [SWA-1:0] sa;
            wire [SWB-1:0] sb;
            sm_adder_tree #(.N(NA), .VW(VW), .FRAC(FRAC)) u_a (.x(x[NA*VW-1:0]),    .sum(sa));
            sm_adder_tree #(.N(NB), .VW(VW), .FRAC(FRAC)) u_b (.x(x[N*VW-1:NA*VW]), .sum(sb));
            assign sum = {{(SW-SWA){1'b0}}, sa} + {{(SW-SWB){1'b0}}, sb};
        end
    endgenerate
endmodule
