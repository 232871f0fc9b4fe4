// sm_stream_unit: the streaming softmax unit (docs/stream.md), bit-exact to models/stream.py.
// A row of 1..N_MAX values arrives as beats of P lanes (s_last on its last beat, s_keep = 0 on
// the tail beat's unused lanes, s_mask = 0 on masked lanes); the outputs leave as beats of P
// lanes in the same order, with the argmax (a lane index in the row) on m_argmax, valid with
// every output beat of the row and meant to be read on the m_last beat.
//
// Max strategy: two passes over a row buffer (docs/stream.md says why, with the figures).
//   IN   input pass: each beat is written to the row buffer; the max tree of the beat updates
//        the running max and argmax (strictly greater wins: the lowest index keeps ties).
//   SUM  (FULL = 1) sum pass: S += sum over the beat of SUMEXP[zmax - q_i], the guarded sum
//        table (SUM_FRAC = OUT_FRAC + guard bits fraction bits), one beat per cycle.
//        K = N (TOPK = 0): over the row buffer. Top-K (TOPK = K >= 2, eq. 30): over a list of
//        the row's K largest live values, kept during the input pass (each beat's P lanes and
//        the list go through the parallel unit's sm_topk_tree; the list keeps the K largest),
//        read as ceil(K/P) beats. Since SUMEXP is monotone, the terms of the K largest values
//        are the K largest terms: the parallel unit's top-K sum. Fewer than K live lanes: the
//        empty entries are not live and add 0 (all live lanes are summed).
//   LN   (FULL = 1) L = LN[ex, mt](S), one cycle.
//   OUT  output pass: y_i = exp_lookup(zmax - q_i + L) (L = 0 for the decision unit, eq. 18),
//        one beat per cycle while m_ready; the next row is accepted after the last output beat.
// Blocks shared with the parallel unit (rtl/): sm_max_tree, sm_exp_lanes, sm_adder_tree,
// sm_ln_lookup, and for top-K sm_topk_tree (with its sm_bitonic_merge). Lanes with keep = 0 are treated as masked and returned with m_keep = 0.
// A row longer than N_MAX is cut: the beat that fills the buffer ends it.
// Parameters: exactly models.stream.StreamUnit.rtl_parameters().
`timescale 1ns / 1ps

module sm_stream_unit #(
    parameter integer P              = 8,
    parameter integer N_MAX          = 4096,
    parameter integer FULL           = 1,     // 0: decision (eq. 18), 1: normalised in the log domain
    parameter integer TOPK           = 0,     // FULL = 1: 0 = every term (K = N), K >= 2 = top-K
    parameter integer IN_W           = 12,
    parameter integer OUT_FRAC       = 15,
    parameter integer OUT_W          = 16,
    parameter integer EXP_ADDR_W     = 9,
    parameter integer EXP_STEP_LOG2  = 0,
    // The sum and ln parameters and files are used only when FULL = 1.
    /* verilator lint_off UNUSEDPARAM */
    parameter integer SUM_FRAC       = 27,
    parameter integer SUM_ADDR_W     = 11,
    parameter integer SUM_W          = 40,
    parameter integer LN_MANT_BITS   = 8,
    parameter integer LN_EXP_BITS    = 4,
    parameter integer LN_DEPTH       = 3328,
    parameter         SUM_TABLE_FILE = "sum_table.hex",
    parameter         LN_TABLE_FILE  = "ln_table.hex",
    /* verilator lint_on UNUSEDPARAM */
    parameter integer LN_W           = 10,
    parameter integer IDX_W          = 12,
    parameter         EXP_TABLE_FILE = "exp_table.hex"
) (
    input  wire                  clk,
    input  wire                  rst_n,      // synchronous, active low
    input  wire                  s_valid,
    output wire                  s_ready,
    input  wire [P*IN_W-1:0]     s_data,     // lane i at [i*IN_W +: IN_W]
    input  wire [P-1:0]          s_keep,     // 1 = lane belongs to the row
    input  wire [P-1:0]          s_mask,     // 1 = live lane
    input  wire                  s_last,
    output reg                   m_valid,
    input  wire                  m_ready,
    output reg  [P*OUT_W-1:0]    m_data,
    output reg  [P-1:0]          m_keep,
    output reg                   m_last,
    output wire [IDX_W-1:0]      m_argmax
);
    localparam integer BEATS = N_MAX / P;
    localparam integer BA_W  = (BEATS > 1) ? $clog2(BEATS) : 1;   // beat address
    localparam integer LW    = $clog2(P);                         // lane index bits
    localparam integer WORD  = P * (IN_W + 2);                    // {keep, live, data}
    localparam integer BS_W  = SUM_FRAC + $clog2(P + 1);          // sum of one beat
    localparam [1:0] S_IN = 2'd0, S_SUM = 2'd1, S_LN = 2'd2, S_OUT = 2'd3;

    // ---- parameter checks (elaboration stops at a missing module named after the problem) ----
    generate
        if (P != 1 && P != 4 && P != 8 && P != 16) begin : g_err_p
            sm_stream_param_error_P_must_be_1_4_8_or_16 u_err();
        end
        if (BEATS < 2 || BEATS * P != N_MAX) begin : g_err_nmax
            sm_stream_param_error_N_MAX_must_be_a_multiple_of_P_at_least_2P u_err();
        end
        if (IDX_W != BA_W + LW) begin : g_err_idx
            sm_stream_param_error_IDX_W_must_be_clog2_N_MAX u_err();
        end
        if (OUT_W != OUT_FRAC + 1) begin : g_err_out_w
            sm_stream_param_error_OUT_W_must_be_OUT_FRAC_plus_1 u_err();
        end
        if (TOPK != 0 && (FULL == 0 || TOPK < 2 || TOPK >= N_MAX)) begin : g_err_topk
            sm_stream_param_error_TOPK_must_be_0_or_2_to_N_MAX_minus_1_with_FULL u_err();
        end
        if (FULL != 0 && TOPK == 0 && SUM_W != SUM_FRAC + $clog2(N_MAX + 1)) begin : g_err_sum_w
            sm_stream_param_error_SUM_W_must_be_SUM_FRAC_plus_clog2_N_MAX_plus_1 u_err();
        end
        if (FULL != 0 && TOPK != 0 && SUM_W != SUM_FRAC + $clog2(TOPK + 1)) begin : g_err_sum_w_topk
            sm_stream_param_error_SUM_W_must_be_SUM_FRAC_plus_clog2_TOPK_plus_1 u_err();
        end
    endgenerate

    // ---- state ----
    reg [1:0]       state;
    reg [WORD-1:0]  rowbuf [0:BEATS-1];
    reg [BA_W-1:0]  wptr;          // next beat to write
    reg [BA_W:0]    nbeats;        // beats of the buffered row
    reg [BA_W:0]    rptr;          // next beat to read
    reg [WORD-1:0]  rd;            // the beat read (synchronous read)
    reg             rd_v, rd_last;
    reg [IN_W-1:0]  zmax;
    reg [IDX_W-1:0] amax;
    reg             any_live;
    reg [LN_W-1:0]  l_reg;         // ln(S) (FULL), 0 for the decision unit

    assign s_ready  = (state == S_IN);
    assign m_argmax = amax;

    // ---- input pass: max tree of the beat against the running max ----
    wire [P-1:0]     in_live = s_keep & s_mask;
    wire [IN_W-1:0]  b_max;
    wire [IDX_W-1:0] b_idx;
    wire             b_live;
    sm_max_tree #(.N(P), .W(IN_W), .IDX_W(IDX_W)) u_max (
        .vals(s_data), .mask(in_live), .max_val(b_max), .max_idx(b_idx), .live(b_live));

    wire take = b_live && (!any_live || ($signed(b_max) > $signed(zmax)));
    wire [IDX_W-1:0] in_idx;
    generate
        if (P == 1) begin : g_idx1
            assign in_idx = wptr;
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_b_idx = |b_idx;
            /* verilator lint_on UNUSEDSIGNAL */
        end else begin : g_idxp
            assign in_idx = {wptr, b_idx[LW-1:0]};
            /* verilator lint_off UNUSEDSIGNAL */
            wire unused_b_idx = |b_idx[IDX_W-1:LW];
            /* verilator lint_on UNUSEDSIGNAL */
        end
    endgenerate
    wire in_fire = s_valid & s_ready;
    localparam integer LAST_BEAT = BEATS - 1;
    wire in_end  = s_last | (wptr == LAST_BEAT[BA_W-1:0]);

    // ---- control ----
    wire [BA_W:0] sum_beats;                             // beats the sum pass reads
    wire en       = m_ready | ~m_valid;                  // output pipeline advances
    wire issue    = (state == S_OUT) ? ((rptr != nbeats) && en) : ((state == S_SUM) && (rptr != sum_beats));
    wire out_done = m_valid & m_ready & m_last;

    // ---- top-K list (TOPK >= 2): the K largest live values of the row so far ----
    // Entries {live, z in offset binary} compare as unsigned; an empty entry (0) is below every
    // live one. The sum pass reads the list, ceil(K/P) beats of P entries, from `rdl`.
    wire              from_list = (TOPK != 0) && (state == S_SUM);
    wire [P*IN_W-1:0] rdl_q;
    wire [P-1:0]      rdl_live;
    generate
        if (TOPK != 0) begin : g_list
            localparam integer EW     = IN_W + 1;
            localparam integer KP     = 1 << $clog2(TOPK);       // the tree's list length
            localparam integer SORT   = (TOPK == KP) ? 0 : 1;    // as the parallel unit: sort to pick K of KP
            localparam integer LBEATS = (TOPK + P - 1) / P;
            reg  [TOPK*EW-1:0]     list;
            reg  [P*EW-1:0]        cand;
            reg  [P*EW-1:0]        rdl;
            /* verilator lint_off UNUSEDSIGNAL */
            wire [KP*EW-1:0]       top;     // entries K..KP-1 of the sorted list are dropped
            /* verilator lint_on UNUSEDSIGNAL */
            wire [LBEATS*P*EW-1:0] words;   // the list, zero-padded to whole beats
            integer j;
            always @* begin
                for (j = 0; j < P; j = j + 1)
                    cand[j*EW +: EW] = in_live[j] ? {1'b1, ~s_data[j*IN_W + IN_W - 1], s_data[j*IN_W +: IN_W - 1]}
                                                  : {EW{1'b0}};
            end
            sm_topk_tree #(.N(TOPK + P), .P(KP), .VW(EW), .SORT(SORT)) u_top (.x({cand, list}), .y(top));
            genvar g;
            for (g = 0; g < LBEATS * P; g = g + 1) begin : g_word
                if (g < TOPK) begin : g_entry
                    assign words[g*EW +: EW] = list[g*EW +: EW];
                end else begin : g_pad
                    assign words[g*EW +: EW] = {EW{1'b0}};
                end
            end
            always @(posedge clk) begin
                if (!rst_n || out_done) list <= {(TOPK*EW){1'b0}};
                else if (in_fire)       list <= top[TOPK*EW-1:0];
                if (issue && state == S_SUM) rdl <= words[rptr[BA_W-1:0]*P*EW +: P*EW];
            end
            for (g = 0; g < P; g = g + 1) begin : g_rdl
                assign rdl_live[g] = rdl[g*EW + IN_W];
                assign rdl_q[g*IN_W +: IN_W] = {~rdl[g*EW + IN_W - 1], rdl[g*EW +: IN_W - 1]};
            end
            assign sum_beats = LBEATS[BA_W:0];
        end else begin : g_nolist
            assign rdl_q     = {(P*IN_W){1'b0}};
            assign rdl_live  = {P{1'b0}};
            assign sum_beats = nbeats;
        end
    endgenerate

    // ---- the beat being read (row buffer, or the top-K list in its sum pass): differences ----
    wire [P*IN_W-1:0] rd_q    = from_list ? rdl_q : rd[P*IN_W-1:0];
    wire [P-1:0]      rd_live = from_list ? rdl_live : rd[P*IN_W +: P];
    wire [P-1:0]      rd_keep = rd[P*IN_W + P +: P];
    reg  [P*IN_W-1:0] delta;
    integer i;
    always @* begin
        for (i = 0; i < P; i = i + 1)
            delta[i*IN_W +: IN_W] = zmax - rd_q[i*IN_W +: IN_W];
    end

    // ---- output look-up: exp_lookup(delta + L), the parallel unit's lanes ----
    wire [P*OUT_W-1:0] y;
    sm_exp_lanes #(
        .N(P), .IN_W(IN_W), .OFF_W(LN_W), .OUT_FRAC(OUT_FRAC), .OUT_W(OUT_W),
        .EXP_ADDR_W(EXP_ADDR_W), .EXP_STEP_LOG2(EXP_STEP_LOG2), .EXP_TABLE_FILE(EXP_TABLE_FILE)
    ) u_out (.d(delta), .off(l_reg), .mask(rd_live), .e(y));

    // ---- guarded sum and its ln (FULL) ----
    // The accumulator is as wide as one beat's sum when that is wider than S can be (top-K
    // with K < P); the bits above SUM_W are then always 0.
    localparam integer ACC_W = (SUM_W > BS_W) ? SUM_W : BS_W;
    wire [LN_W-1:0] l_new;
    wire            sum_done;
    reg  [ACC_W-1:0] acc;
    wire [ACC_W-1:0] acc_next;
    generate
        if (FULL != 0) begin : g_sum
            wire [P*(SUM_FRAC+1)-1:0] es;
            wire [BS_W-1:0]           bsum;
            sm_exp_lanes #(
                .N(P), .IN_W(IN_W), .OFF_W(1), .OUT_FRAC(SUM_FRAC), .OUT_W(SUM_FRAC + 1),
                .EXP_ADDR_W(SUM_ADDR_W), .EXP_STEP_LOG2(EXP_STEP_LOG2), .EXP_TABLE_FILE(SUM_TABLE_FILE)
            ) u_sumexp (.d(delta), .off(1'b0), .mask(rd_live), .e(es));
            sm_adder_tree #(.N(P), .VW(SUM_FRAC + 1), .FRAC(SUM_FRAC)) u_bsum (.x(es), .sum(bsum));
            if (ACC_W > BS_W) begin : g_wide
                assign acc_next = acc + {{(ACC_W - BS_W){1'b0}}, bsum};
            end else begin : g_narrow
                assign acc_next = acc + bsum;
            end
            sm_ln_lookup #(
                .SUM_W(SUM_W), .OUT_FRAC(SUM_FRAC), .LN_MANT_BITS(LN_MANT_BITS),
                .LN_EXP_BITS(LN_EXP_BITS), .LN_DEPTH(LN_DEPTH), .LN_W(LN_W),
                .LN_TABLE_FILE(LN_TABLE_FILE)
            ) u_ln (.s(acc[SUM_W-1:0]), .l(l_new));
        end else begin : g_nosum
            assign acc_next = acc;
            assign l_new    = {LN_W{1'b0}};
        end
    endgenerate
    // the sum pass has read every beat and the last one has been added
    assign sum_done = (rptr == sum_beats) && !rd_v;


    always @(posedge clk) begin
        if (in_fire) rowbuf[wptr] <= {s_keep, in_live, s_data};
        if (issue) begin
            rd      <= rowbuf[rptr[BA_W-1:0]];
            rd_last <= (rptr + 1'b1 == nbeats);
        end
        if (state == S_OUT && en) begin
            m_data <= y;
            m_keep <= rd_keep;
            m_last <= rd_last;
        end
    end

    always @(posedge clk) begin
        if (!rst_n) begin
            state <= S_IN; wptr <= {BA_W{1'b0}}; nbeats <= {(BA_W+1){1'b0}};
            rptr <= {(BA_W+1){1'b0}}; rd_v <= 1'b0; m_valid <= 1'b0;
            any_live <= 1'b0; zmax <= {IN_W{1'b0}}; amax <= {IDX_W{1'b0}};
            acc <= {ACC_W{1'b0}}; l_reg <= {LN_W{1'b0}};
        end else begin
            case (state)
                S_IN: if (in_fire) begin
                    if (take) begin
                        zmax <= b_max;
                        amax <= in_idx;
                    end
                    any_live <= any_live | b_live;
                    if (in_end) begin
                        nbeats <= {1'b0, wptr} + 1'b1;
                        wptr   <= {BA_W{1'b0}};
                        state  <= (FULL != 0) ? S_SUM : S_OUT;
                    end else begin
                        wptr <= wptr + 1'b1;
                    end
                end
                S_SUM: begin
                    rd_v <= issue;
                    if (issue) rptr <= rptr + 1'b1;
                    if (rd_v) acc <= acc_next;
                    if (sum_done) state <= S_LN;
                end
                S_LN: begin
                    l_reg <= l_new;
                    rptr  <= {(BA_W+1){1'b0}};
                    state <= S_OUT;
                end
                default: begin   // S_OUT
                    if (en) begin
                        rd_v    <= issue;
                        m_valid <= rd_v;
                        if (issue) rptr <= rptr + 1'b1;
                    end
                    if (out_done) begin
                        state <= S_IN; rptr <= {(BA_W+1){1'b0}}; rd_v <= 1'b0; m_valid <= 1'b0;
                        any_live <= 1'b0; zmax <= {IN_W{1'b0}}; amax <= {IDX_W{1'b0}};
                        acc <= {ACC_W{1'b0}}; l_reg <= {LN_W{1'b0}};
                    end
                end
            endcase
        end
    end
endmodule
