// ln of the top-K sum (docs/numerics.md, section 3 step 5):
//   p  = position of the leading one of S (p >= OUT_FRAC when a lane is live, S >= ONE)
//   ex = p - OUT_FRAC, mt = the LN_MANT_BITS bits just below the leading one,
//   L  = LN[ex * 2^M + mt] (input LSBs), and L = 0 when S = 0 (no live lane).
// The table is one memory array loaded with $readmemh from LN_TABLE_FILE (written by
// models.tables.write_tables); nothing is computed here but the address.
// Combinational.
`timescale 1ns / 1ps

module sm_ln_lookup #(
    parameter integer SUM_W        = 13,
    parameter integer OUT_FRAC     = 10,
    parameter integer LN_MANT_BITS = 7,
    parameter integer LN_EXP_BITS  = 2,
    parameter integer LN_DEPTH     = 384,
    parameter integer LN_W         = 7,
    parameter         LN_TABLE_FILE = "ln_table.hex"
) (
    // Bits below OUT_FRAC - LN_MANT_BITS never reach the mantissa: the table resolution ends there.
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire [SUM_W-1:0] s,
    /* verilator lint_on UNUSEDSIGNAL */
    output wire [LN_W-1:0]  l
);
    localparam integer E = SUM_W - OUT_FRAC;      // exponents ex = 0 .. E-1 (S < 2^SUM_W)
    localparam integer M = LN_MANT_BITS;

    reg [LN_W-1:0] ln_rom [0:LN_DEPTH-1];
    initial $readmemh(LN_TABLE_FILE, ln_rom);

    // Leading-one detector fused with the mantissa select: the highest set bit at or above
    // OUT_FRAC wins (later loop iterations override earlier ones).
    reg [LN_EXP_BITS-1:0] ex;
    reg [M-1:0]           mt;
    integer b;
    always @* begin
        ex = {LN_EXP_BITS{1'b0}};
        mt = s[OUT_FRAC-1 -: M];
        for (b = 1; b < E; b = b + 1) begin
            if (s[OUT_FRAC + b]) begin
                ex = b[LN_EXP_BITS-1:0];
                mt = s[OUT_FRAC + b - 1 -: M];
            end
        end
    end

    wire live = |s[SUM_W-1:OUT_FRAC];
    wire [LN_W-1:0] rd = ln_rom[{ex, mt}];
    assign l = live ? rd : {LN_W{1'b0}};
endmodule
