// Area probe of the alternative max strategy (docs/stream.md, "max strategy"): the hardware an
// online running max (Softermax, Stevens et al. 2021) adds to this unit's guarded sum when the
// running max rises from m to m' within a row: S' = round(S * SUMEXP[m' - m] / 2^SUM_FRAC), one
// more sum-table read port, a multiplier and a rounding adder. Not instantiated by
// sm_stream_unit (which takes two passes instead); synthesised by bench/bench_stream.py only.
// Combinational.
`timescale 1ns / 1ps

module sm_stream_rescale #(
    parameter integer IN_W           = 12,
    parameter integer SUM_FRAC       = 27,
    parameter integer SUM_ADDR_W     = 11,
    parameter integer SUM_W          = 40,
    parameter         SUM_TABLE_FILE = "sum_table.hex"
) (
    input  wire [IN_W-1:0]  dm,      // m' - m >= 0
    input  wire [SUM_W-1:0] s,
    output wire [SUM_W-1:0] s_scaled
);
    localparam integer PW = SUM_W + SUM_FRAC + 1;
    reg [SUM_FRAC:0] rom [0:(1 << SUM_ADDR_W) - 1];
    initial $readmemh(SUM_TABLE_FILE, rom);

    wire             beyond = (dm >> SUM_ADDR_W) != {IN_W{1'b0}};
    wire [SUM_FRAC:0] f = (dm == {IN_W{1'b0}}) ? {1'b1, {SUM_FRAC{1'b0}}}
                        : beyond ? {(SUM_FRAC+1){1'b0}} : rom[dm[SUM_ADDR_W-1:0]];
    wire [PW-1:0]    prod = s * f + ({{(PW-1){1'b0}}, 1'b1} << (SUM_FRAC - 1));
    /* verilator lint_off UNUSEDSIGNAL */
    wire [PW-1:0]    shifted = prod >> SUM_FRAC;
    /* verilator lint_on UNUSEDSIGNAL */
    assign s_scaled = shifted[SUM_W-1:0];
endmodule
