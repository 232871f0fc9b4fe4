// N lanes of y_i = round(e_i * ONE / S) = floor((e_i * 2^OUT_FRAC + floor(S / 2)) / S): the
// conventional softmax's normalisation, one divider per lane (docs/numerics.md, normalise =
// "divide"), the design the paper compares its units against. S = 0 (no live lane) gives 0.
// Masked lanes arrive with e_i = 0 and so give 0. Combinational.
`timescale 1ns / 1ps

module sm_div_lanes #(
    parameter integer N        = 10,
    parameter integer OUT_FRAC = 10,
    parameter integer OUT_W    = 11,   // OUT_FRAC + 1
    parameter integer SUM_W    = 15
) (
    input  wire [N*OUT_W-1:0] e,       // lane i at [i*OUT_W +: OUT_W]
    input  wire [SUM_W-1:0]   s,
    output wire [N*OUT_W-1:0] y
);
    // e * 2^OUT_FRAC + S/2 needs one bit more than the wider term.
    localparam integer NUM_W = ((OUT_W + OUT_FRAC > SUM_W) ? OUT_W + OUT_FRAC : SUM_W) + 1;

    reg [N*OUT_W-1:0] y_r;
    reg [NUM_W-1:0]   num;
    // e_i <= S, so the quotient is at most ONE and fits OUT_W bits; its upper bits stay 0.
    /* verilator lint_off UNUSEDSIGNAL */
    reg [NUM_W-1:0]   quo;
    /* verilator lint_on UNUSEDSIGNAL */
    integer i;
    always @* begin
        for (i = 0; i < N; i = i + 1) begin
            num = {{(NUM_W - OUT_W - OUT_FRAC){1'b0}}, e[i*OUT_W +: OUT_W], {OUT_FRAC{1'b0}}}
                + {{(NUM_W - SUM_W + 1){1'b0}}, s[SUM_W-1:1]};
            quo = (s == {SUM_W{1'b0}}) ? {NUM_W{1'b0}} : num / {{(NUM_W - SUM_W){1'b0}}, s};
            y_r[i*OUT_W +: OUT_W] = quo[OUT_W-1:0];
        end
    end
    assign y = y_r;
endmodule
