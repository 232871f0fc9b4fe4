// N lanes of y_i = round(e_i * ONE / S) = floor((e_i * 2^OUT_FRAC + floor(S / 2)) / S): the
// conventional softmax's normalisation, one divider per lane (docs/numerics.md, normalise =
// "divide"), the design the paper compares its units against. S = 0 (no live lane) gives 0.
// Masked lanes arrive with e_i = 0 and so give 0.
//
// DIV_PIPE = 0: combinational (`/`). DIV_PIPE = P > 0: restoring long division, one quotient bit
// per step, OUT_W steps cut into P + 1 groups with a register after each of the first P: the
// result (and `side`, e.g. the argmax riding along) comes out P clock edges later, bit-exact.
// Registers advance with `en` (the unit's global stall enable).
`timescale 1ns / 1ps

module sm_div_lanes #(
    parameter integer N        = 10,
    parameter integer OUT_FRAC = 10,
    parameter integer OUT_W    = 11,   // OUT_FRAC + 1
    parameter integer SUM_W    = 15,
    parameter integer DIV_PIPE = 0,    // registers inside the divider
    parameter integer SIDE_W   = 1     // bits delayed beside the quotient
) (
    // clk and en drive the registers of DIV_PIPE > 0 only
    /* verilator lint_off UNUSEDSIGNAL */
    input  wire               clk,
    input  wire               en,
    /* verilator lint_on UNUSEDSIGNAL */
    input  wire [N*OUT_W-1:0] e,       // lane i at [i*OUT_W +: OUT_W]
    input  wire [SUM_W-1:0]   s,
    input  wire [SIDE_W-1:0]  side,
    output wire [N*OUT_W-1:0] y,
    output wire [SIDE_W-1:0]  side_out
);
    // e * 2^OUT_FRAC + S/2 needs one bit more than the wider term.
    localparam integer NUM_W = ((OUT_W + OUT_FRAC > SUM_W) ? OUT_W + OUT_FRAC : SUM_W) + 1;

    // the dividends of all lanes, one vector
    reg [N*NUM_W-1:0] num;
    integer i;
    always @* begin
        for (i = 0; i < N; i = i + 1)
            num[i*NUM_W +: NUM_W] = {{(NUM_W - OUT_W - OUT_FRAC){1'b0}}, e[i*OUT_W +: OUT_W], {OUT_FRAC{1'b0}}}
                                  + {{(NUM_W - SUM_W + 1){1'b0}}, s[SUM_W-1:1]};
    end

    generate
        if (DIV_PIPE == 0) begin : g_comb
            reg [N*OUT_W-1:0] y_r;
            // e_i <= S, so the quotient is at most ONE and fits OUT_W bits; its upper bits stay 0.
            /* verilator lint_off UNUSEDSIGNAL */
            reg [NUM_W-1:0]   quo;
            /* verilator lint_on UNUSEDSIGNAL */
            integer j;
            always @* begin
                for (j = 0; j < N; j = j + 1) begin
                    quo = (s == {SUM_W{1'b0}}) ? {NUM_W{1'b0}}
                                               : num[j*NUM_W +: NUM_W] / {{(NUM_W - SUM_W){1'b0}}, s};
                    y_r[j*OUT_W +: OUT_W] = quo[OUT_W-1:0];
                end
            end
            assign y = y_r;
            assign side_out = side;
        end else begin : g_long
            // The quotient is < 2^OUT_W, so the dividend's bits above the low OUT_W are a partial
            // remainder below S already: OUT_W steps, each bringing down one bit of the low part.
            localparam integer RW   = SUM_W + 1;                 // remainder before a subtraction
            localparam integer STEPS = OUT_W;
            localparam integer PER  = (STEPS + DIV_PIPE) / (DIV_PIPE + 1);   // steps per group
            // stage k's inputs: remainders, the dividend bits still to bring down, quotient so far
            localparam integer TOPW = NUM_W - OUT_W;           // <= RW (NUM_W's definition)
            wire [N*RW-1:0]    rem_in  [0:DIV_PIPE];
            wire [N*OUT_W-1:0] low_in  [0:DIV_PIPE];
            wire [N*OUT_W-1:0] quo_in  [0:DIV_PIPE];
            wire [SUM_W-1:0]   s_in    [0:DIV_PIPE];
            wire               zero_in [0:DIV_PIPE];
            wire [SIDE_W-1:0]  side_in [0:DIV_PIPE];
            genvar k, l;
            for (l = 0; l < N; l = l + 1) begin : g_lane0
                if (TOPW < RW) begin : g_pad
                    assign rem_in[0][l*RW +: RW] = {{(RW - TOPW){1'b0}}, num[l*NUM_W + OUT_W +: TOPW]};
                end else begin : g_nopad
                    assign rem_in[0][l*RW +: RW] = num[l*NUM_W + OUT_W +: TOPW];
                end
                assign low_in[0][l*OUT_W +: OUT_W] = num[l*NUM_W +: OUT_W];
            end
            assign quo_in[0]  = {N*OUT_W{1'b0}};
            assign s_in[0]    = s;
            assign zero_in[0] = (s == {SUM_W{1'b0}});
            assign side_in[0] = side;
            for (k = 0; k <= DIV_PIPE; k = k + 1) begin : g_st
                localparam integer FIRST = k * PER;
                localparam integer LAST  = ((k + 1) * PER < STEPS) ? (k + 1) * PER : STEPS;  // exclusive
                reg [N*RW-1:0]    rem;
                reg [N*OUT_W-1:0] low, quo;
                reg [RW-1:0]      r;
                integer lane, t;
                always @* begin
                    rem = rem_in[k];
                    low = low_in[k];
                    quo = quo_in[k];
                    for (lane = 0; lane < N; lane = lane + 1) begin
                        for (t = FIRST; t < LAST; t = t + 1) begin
                            // bring down the next bit (MSB of the low part first), then subtract
                            r = {rem[lane*RW +: RW - 1], low[lane*OUT_W + OUT_W - 1]};
                            low[lane*OUT_W +: OUT_W] = {low[lane*OUT_W +: OUT_W - 1], 1'b0};
                            quo[lane*OUT_W +: OUT_W] = {quo[lane*OUT_W +: OUT_W - 1], r >= {1'b0, s_in[k]}};
                            rem[lane*RW +: RW] = (r >= {1'b0, s_in[k]}) ? r - {1'b0, s_in[k]} : r;
                        end
                    end
                end
                if (k < DIV_PIPE) begin : g_reg
                    // names end in 4: these are stage S4's registers (scripts/timing.py)
                    reg [N*RW-1:0]    dr4;
                    reg [N*OUT_W-1:0] dl4, dq4;
                    reg [SUM_W-1:0]   ds4;
                    reg               dz4;
                    reg [SIDE_W-1:0]  da4;
                    always @(posedge clk) if (en) begin
                        dr4 <= rem;
                        dl4 <= low;
                        dq4 <= quo;
                        ds4 <= s_in[k];
                        dz4 <= zero_in[k];
                        da4 <= side_in[k];
                    end
                    assign rem_in[k+1]  = dr4;
                    assign low_in[k+1]  = dl4;
                    assign quo_in[k+1]  = dq4;
                    assign s_in[k+1]    = ds4;
                    assign zero_in[k+1] = dz4;
                    assign side_in[k+1] = da4;
                end else begin : g_out
                    assign y = zero_in[k] ? {N*OUT_W{1'b0}} : quo;
                    assign side_out = side_in[k];
                end
            end
        end
    endgenerate
endmodule
