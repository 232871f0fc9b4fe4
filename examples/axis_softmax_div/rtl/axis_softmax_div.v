// axis_softmax_div: a softmax unit written independently of rtl/softmax_unit.v, as the
// "bring your own design" example (docs/byo.md). It is deliberately different from the
// project's unit in every visible way:
//   * AXI4-Stream in and out, P lanes per beat, N/P beats per vector, tlast on the last beat;
//     lanes packed MSB first (the first lane of a beat in the top bits), the input mask in
//     s_axis_tuser (same lane order), the argmax in m_axis_tuser on every output beat;
//   * one vector at a time: receive (exact max while the beats arrive), exp by a base-2
//     table (2^-(t) = 2^-frac >> int, 64-entry fraction table, one lane per cycle, running sum),
//     normalise with ONE shared restoring divider (OUT_FRAC+1 cycles per lane), send.
// Numbers: input signed Q(IW-FW, FW); output unsigned Q(1, OUT_FRAC), 1.0 = 2^OUT_FRAC.
//   d_i   = max - x_i                        (input LSBs)
//   t_i   = d_i * L2E + 2^(FW+11)            (L2E = round(log2(e) * 2^12); t in 2^-(FW+12))
//   e_i   = EXP2[(t_i >> (FW+6)) & 63] >> (t_i >> (FW+12))     (EXP2[j] = round(2^14 * 2^(-j/64)))
//   S     = sum of live e_i;   y_i = floor((e_i * 2^OUT_FRAC + floor(S/2)) / S)
// Masked lanes give e = 0 and y = 0; an all-masked vector gives all zeros and argmax 0.
// Reset: aresetn, synchronous, active low.
`timescale 1ns / 1ps

module axis_softmax_div #(
    parameter integer N        = 8,
    parameter integer P        = 2,      // lanes per beat (N must be a multiple of P)
    parameter integer IW       = 8,      // input width (two's complement)
    parameter integer FW       = 4,      // input fraction bits
    parameter integer OUT_FRAC = 12,
    parameter integer OUT_W    = 13,     // OUT_FRAC + 1
    parameter integer AW       = 3       // argmax width, 2^AW >= N
) (
    input  wire              aclk,
    input  wire              aresetn,
    input  wire [P*IW-1:0]   s_axis_tdata,
    input  wire [P-1:0]      s_axis_tuser,   // 1 = live lane
    input  wire              s_axis_tlast,
    input  wire              s_axis_tvalid,
    output wire              s_axis_tready,
    output wire [P*OUT_W-1:0] m_axis_tdata,
    output wire [AW-1:0]     m_axis_tuser,
    output wire              m_axis_tlast,
    output wire              m_axis_tvalid,
    input  wire              m_axis_tready
);
    localparam integer BEATS = N / P;
    localparam integer L2E   = 5909;                 // round(log2(e) * 4096)
    localparam integer EW    = 15;                   // e in Q(1,14)
    localparam integer SW    = EW + $clog2(N + 1);   // sum width
    localparam integer NUM_W = EW + OUT_FRAC + 1;    // dividend e * 2^OUT_FRAC + S/2
    localparam integer TW    = IW + 1 + 13;          // d * L2E + rounding

    localparam [1:0] S_IN = 2'd0, S_EXP = 2'd1, S_DIV = 2'd2, S_OUT = 2'd3;
    reg [1:0] state;

    reg signed [IW-1:0] x    [0:N-1];
    reg                 live [0:N-1];
    reg [EW-1:0]        e    [0:N-1];
    reg [OUT_W-1:0]     y    [0:N-1];
    reg signed [IW-1:0] xmax;
    reg                 any_live;
    reg [AW-1:0]        amax;
    reg [$clog2(N)-1:0] lane;         // lane index in S_EXP / S_DIV; beat index in S_IN / S_OUT
    reg [SW-1:0]        sum;

    // ---- base-2 exp table: 2^(-j/64) in Q(1,14) ----
    reg [EW-1:0] exp2 [0:63];
    integer j, entry;
    initial for (j = 0; j < 64; j = j + 1) begin
        entry = $rtoi(16384.0 * (2.0 ** (-j / 64.0)) + 0.5);
        exp2[j] = entry[EW-1:0];
    end

    // ---- receive: beat b holds lanes b*P .. b*P+P-1, the first of them at the MSB ----
    assign s_axis_tready = (state == S_IN);
    wire in_fire = s_axis_tvalid && s_axis_tready;

    // running max over the beat's live lanes and what has arrived before
    reg signed [IW-1:0] bmax;
    reg                 blive;
    reg [AW-1:0]        barg;
    integer k, idx;
    always @* begin
        bmax = xmax; blive = any_live; barg = amax; idx = 0;
        for (k = 0; k < P; k = k + 1)
            if (s_axis_tuser[P-1-k]) begin
                if (!blive || $signed(s_axis_tdata[(P-1-k)*IW +: IW]) > bmax) begin
                    bmax = $signed(s_axis_tdata[(P-1-k)*IW +: IW]);
                    idx  = lane * P + k;
                    barg = idx[AW-1:0];
                end
                blive = 1'b1;
            end
    end

    // ---- exp of one lane per cycle ----
    wire [IW:0]   d = {xmax[IW-1], xmax} - {x[lane][IW-1], x[lane]};
    wire [31:0]   t_full = d * L2E + (1 << (FW + 11));
    wire [TW-1:0] t = t_full[TW-1:0];
    wire [EW-1:0] e_lane = live[lane] ? (exp2[t[FW+11 -: 6]] >> t[TW-1:FW+12]) : {EW{1'b0}};

    // ---- one restoring divider, OUT_FRAC+1 quotient bits per lane ----
    reg [NUM_W-1:0] num;
    reg [SW-1:0]    rem;
    reg [OUT_W-1:0] quo;
    reg [4:0]       step;
    wire [SW:0]     trial = {rem, num[NUM_W-1]};
    wire            take  = trial >= {1'b0, sum};

    // ---- send ----
    reg [P*OUT_W-1:0] odata;
    always @* for (k = 0; k < P; k = k + 1) odata[(P-1-k)*OUT_W +: OUT_W] = y[lane * P + k];
    assign m_axis_tvalid = (state == S_OUT);
    assign m_axis_tdata  = odata;
    assign m_axis_tlast  = (lane == BEATS - 1);
    assign m_axis_tuser  = amax;

    always @(posedge aclk) begin
        if (!aresetn) begin
            state <= S_IN; lane <= 0; any_live <= 1'b0; amax <= 0; xmax <= 0; sum <= 0;
        end else case (state)
            S_IN: if (in_fire) begin
                for (k = 0; k < P; k = k + 1) begin
                    x[lane * P + k]    <= s_axis_tdata[(P-1-k)*IW +: IW];
                    live[lane * P + k] <= s_axis_tuser[P-1-k];
                end
                xmax <= bmax; any_live <= blive; amax <= barg;
                // a short frame (tlast early) is completed with masked lanes by ignoring tlast:
                // the unit counts beats, tlast is informative only
                if (lane == BEATS - 1) begin
                    lane <= 0; sum <= 0; state <= S_EXP;
                end else
                    lane <= lane + 1;
            end
            S_EXP: begin
                e[lane] <= e_lane;
                sum <= sum + e_lane;
                if (lane == N - 1) begin lane <= 0; step <= 0; state <= S_DIV; end
                else lane <= lane + 1;
            end
            S_DIV: begin
                if (step == 0) begin
                    // quotient < 2^(OUT_FRAC+1): the top EW bits of the dividend are below S
                    rem  <= ({e[lane], {OUT_FRAC{1'b0}}} + (sum >> 1)) >> (OUT_FRAC + 1);
                    num  <= (({e[lane], {OUT_FRAC{1'b0}}} + (sum >> 1)) << (NUM_W - OUT_FRAC - 1));
                    quo  <= 0;
                    step <= 1;
                end else begin
                    rem  <= take ? trial - sum : trial[SW-1:0];
                    num  <= num << 1;
                    quo  <= {quo[OUT_W-2:0], take};
                    if (step == OUT_W) begin
                        y[lane] <= (sum == 0) ? {OUT_W{1'b0}} : {quo[OUT_W-2:0], take};
                        step <= 0;
                        if (lane == N - 1) begin lane <= 0; state <= S_OUT; end
                        else lane <= lane + 1;
                    end else
                        step <= step + 1;
                end
            end
            S_OUT: if (m_axis_tready) begin
                if (lane == BEATS - 1) begin
                    lane <= 0; any_live <= 1'b0; amax <= 0; xmax <= 0; state <= S_IN;
                end else
                    lane <= lane + 1;
            end
        endcase
    end
endmodule
