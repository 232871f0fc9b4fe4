// softmax_unit: the softmax-like unit of Kouretas & Paliouras (eq. 18 for K = 1, eq. 30 for
// K > 1, exact softmax datapath for K = N), bit-exact to docs/numerics.md section 3.
// Block diagram, stages and latency: docs/rtl.md.
//
// Pipeline (global-enable stall: every register advances together while the output is free):
//   S0  input register                    q, mask
//   S1  max tree + subtractors            delta_i = zmax - q_i, argmax
//   S2  exp look-up                       e_i = exp_lookup(delta_i)          (K = 1: output)
//   S3  top-K sum + ln look-up            L = LN[ex, mt](sum of K largest e)  (K > 1)
//   S4  normalising exp look-up           y_i = exp_lookup(delta_i + L)      (K > 1: output)
//       (NORM_DIVIDE = 1, the conventional K = N unit: S3 sums all e, S4 divides each lane by S)
// LATENCY = 3 (K = 1) or 5 (K > 1) clock edges from acceptance to out_valid, one more with
// TOPK_PIPE (S3 split between the top-K selection and its sum), MAX_PIPE more with registers
// inside the max tree (S1), DIV_PIPE more with registers inside the dividers (S4) and SUM_PIPE
// more with registers inside the sum + ln look-up (S3, log-domain units).
//
// Parameters: exactly models.config.SoftmaxConfig.rtl_parameters(); inconsistent values stop
// elaboration at a missing module whose name says what is wrong.
`timescale 1ns / 1ps

module softmax_unit #(
    parameter integer N             = 10,
    parameter integer K             = 1,
    parameter integer IN_W          = 10,   // input width, two's complement
    parameter integer OUT_FRAC      = 10,
    parameter integer OUT_W         = 11,   // OUT_FRAC + 1
    parameter integer EXP_ADDR_W    = 8,    // exp table depth D = 2^EXP_ADDR_W
    parameter integer EXP_STEP_LOG2 = 0,    // one exp table entry per 2^EXP_STEP_LOG2 input LSBs
    // The ln parameters and LN_TABLE_FILE are checked and used only when K > 1.
    /* verilator lint_off UNUSEDPARAM */
    parameter integer LN_MANT_BITS  = 7,
    parameter integer LN_EXP_BITS   = 1,
    parameter integer LN_DEPTH      = 128,
    parameter integer LN_W          = 1,
    parameter         LN_TABLE_FILE = "ln_table.hex",
    /* verilator lint_on UNUSEDPARAM */
    parameter integer SUM_W         = 11,   // width of the top-K sum, SUM_FRAC + ceil(log2(K+1))
    // The sum table (log-domain units, K > 1): the top-K sum is taken from exp_lookup through a
    // table of its own with SUM_FRAC = OUT_FRAC + guard bits fraction bits and 2^SUM_ADDR_W
    // entries, so that lanes far below the max still add their mass (docs/numerics.md section 5).
    // SUM_TABLE = 0: no such table, the sum is taken from the first look-up (SUM_FRAC = OUT_FRAC).
    parameter integer SUM_FRAC      = 10,
    parameter integer SUM_ADDR_W    = 8,
    parameter integer SUM_TABLE     = 0,
    /* verilator lint_off UNUSEDPARAM */
    parameter         SUM_TABLE_FILE = "sum_table.hex",
    /* verilator lint_on UNUSEDPARAM */
    parameter integer ARGMAX_W      = 4,
    parameter         EXP_TABLE_FILE = "exp_table.hex",
    // 1: normalise by one divider per lane (the conventional full softmax, K = N) instead of
    // the ln table and a second exp look-up.
    parameter integer NORM_DIVIDE   = 0,
    // 1: a register between the top-K selection and its sum (top-K units, 1 < K < N, log
    // domain): S3 splits in two, the latency grows by one, the outputs are unchanged. The top-K
    // selection and the sum with the ln look-up are otherwise one stage (docs/timing.md).
    parameter integer TOPK_PIPE     = 0,
    // registers inside the per-lane dividers of the conventional unit (NORM_DIVIDE = 1): the
    // division's OUT_W steps cut into DIV_PIPE + 1 groups, latency + DIV_PIPE, outputs unchanged
    parameter integer DIV_PIPE      = 0,
    // registers inside the max tree (S1): its comparator levels cut into MAX_PIPE + 1 parts
    // (rtl/sm_max_pipe.v), the lanes' values and mask delayed alongside; latency + MAX_PIPE,
    // outputs unchanged
    parameter integer MAX_PIPE      = 0,
    // registers inside S3 of the log-domain units (K > 1, NORM_DIVIDE = 0): the sum's
    // ceil(log2 K) adder levels and the ln look-up (one more level) cut into SUM_PIPE + 1 parts
    // (rtl/sm_sum_pipe.v), delta, mask and argmax delayed alongside; latency + SUM_PIPE,
    // outputs unchanged
    parameter integer SUM_PIPE      = 0
) (
    input  wire                  clk,
    input  wire                  rst_n,      // synchronous, active low
    input  wire                  in_valid,
    output wire                  in_ready,
    input  wire [N*IN_W-1:0]     in_data,    // lane i at [i*IN_W +: IN_W]
    input  wire [N-1:0]          in_mask,    // 1 = live lane
    output wire                  out_valid,
    input  wire                  out_ready,
    output wire [N*OUT_W-1:0]    out_data,   // lane i at [i*OUT_W +: OUT_W]
    output wire [ARGMAX_W-1:0]   out_argmax
);
    localparam integer LATENCY = ((K > 1) ? 5 : 3) + TOPK_PIPE + DIV_PIPE + MAX_PIPE + SUM_PIPE;

    // ---- parameter checks (elaboration stops at the missing module named after the problem) ----
    // Derived parameters must equal what rtl_parameters() derives, not merely be wide enough:
    // a value nobody builds is a configuration nobody tests.
    localparam integer LN_EXPS = SUM_W - SUM_FRAC;                  // ln table exponents, S <= K*ONE
    localparam integer LN_EXP_BITS_REQ = (LN_EXPS > 1) ? $clog2(LN_EXPS) : 1;
    localparam integer ARGMAX_W_REQ = (N > 1) ? $clog2(N) : 1;
    // SUM_PIPE: 1..ceil(log2 K) registers, log-domain units only (K > 1, NORM_DIVIDE = 0)
    localparam integer SUM_PIPE_MAX = (K > 1 && NORM_DIVIDE == 0) ? $clog2(K) : 0;
    localparam integer SUM_PIPE_ON  = (SUM_PIPE >= 1 && SUM_PIPE <= SUM_PIPE_MAX) ? 1 : 0;
    generate
        if (N < 2) begin : g_err_n
            softmax_unit_param_error_N_must_be_at_least_2 u_err();
        end
        if (K < 1 || K > N) begin : g_err_k
            softmax_unit_param_error_K_must_be_in_1_to_N u_err();
        end
        if (OUT_W != OUT_FRAC + 1) begin : g_err_out_w
            softmax_unit_param_error_OUT_W_must_be_OUT_FRAC_plus_1 u_err();
        end
        if (SUM_W != SUM_FRAC + $clog2(K + 1)) begin : g_err_sum_w
            softmax_unit_param_error_SUM_W_must_be_SUM_FRAC_plus_clog2_K_plus_1 u_err();
        end
        if (SUM_TABLE == 0 ? (SUM_FRAC != OUT_FRAC) : (SUM_FRAC < OUT_FRAC || K < 2 || NORM_DIVIDE != 0))
        begin : g_err_sum_table
            softmax_unit_param_error_SUM_TABLE_only_for_log_domain_units_with_SUM_FRAC_ge_OUT_FRAC u_err();
        end
        if (SUM_TABLE != 0 && (SUM_ADDR_W < EXP_ADDR_W || EXP_STEP_LOG2 + SUM_ADDR_W > IN_W)) begin : g_err_sum_addr
            softmax_unit_param_error_sum_table_span_must_cover_exp_table_within_input_range u_err();
        end
        if (ARGMAX_W != ARGMAX_W_REQ) begin : g_err_argmax_w
            softmax_unit_param_error_ARGMAX_W_must_be_clog2_N u_err();
        end
        if (EXP_STEP_LOG2 < 0 || EXP_ADDR_W < 1 || EXP_STEP_LOG2 + EXP_ADDR_W > IN_W) begin : g_err_exp
            softmax_unit_param_error_exp_table_span_exceeds_input_range u_err();
        end
        if (TOPK_PIPE != 0 && (TOPK_PIPE != 1 || K < 2 || K >= N || NORM_DIVIDE != 0)) begin : g_err_topk_pipe
            softmax_unit_param_error_TOPK_PIPE_only_0_or_1_and_only_for_log_domain_top_K u_err();
        end
        if (DIV_PIPE < 0 || DIV_PIPE >= OUT_W || (DIV_PIPE != 0 && NORM_DIVIDE == 0)) begin : g_err_div_pipe
            softmax_unit_param_error_DIV_PIPE_in_0_to_OUT_W_minus_1_and_only_with_NORM_DIVIDE u_err();
        end
        if (MAX_PIPE < 0 || MAX_PIPE > ARGMAX_W_REQ) begin : g_err_max_pipe
            softmax_unit_param_error_MAX_PIPE_in_0_to_clog2_N u_err();
        end
        if (NORM_DIVIDE != 0 && K != N) begin : g_err_divide
            softmax_unit_param_error_NORM_DIVIDE_needs_K_equal_N u_err();
        end
        if (K > 1 && NORM_DIVIDE == 0 && (LN_MANT_BITS < 1 || LN_MANT_BITS > OUT_FRAC)) begin : g_err_ln_m
            softmax_unit_param_error_LN_MANT_BITS_must_be_in_1_to_OUT_FRAC u_err();
        end
        if (K > 1 && NORM_DIVIDE == 0 && LN_DEPTH != (LN_EXPS << LN_MANT_BITS)) begin : g_err_ln_depth
            softmax_unit_param_error_LN_DEPTH_must_be_exponents_times_2_pow_LN_MANT_BITS u_err();
        end
        if (K > 1 && NORM_DIVIDE == 0 && LN_EXP_BITS != LN_EXP_BITS_REQ) begin : g_err_ln_exp
            softmax_unit_param_error_LN_EXP_BITS_must_be_clog2_of_exponents u_err();
        end
    endgenerate

    // ---- flow control: one valid bit per stage, all stages share one enable ----
    reg  [LATENCY-1:0] vld;
    wire               en = out_ready | ~out_valid;

    assign in_ready  = en;
    assign out_valid = vld[LATENCY-1];

    always @(posedge clk) begin
        if (!rst_n)
            vld <= {LATENCY{1'b0}};
        else if (en)
            vld <= {vld[LATENCY-2:0], in_valid};
    end

    // Data registers are never reset; each stage's register is a whole vector written in one
    // statement (one simulator event per clock, whatever N).

    // ---- S0: input register ----
    reg [N*IN_W-1:0] q0;
    reg [N-1:0]      m0;
    always @(posedge clk) if (en) begin
        q0 <= in_data;
        m0 <= in_mask;
    end

    // ---- S1: max tree and subtractors ----
    wire [IN_W-1:0]     zmax;
    wire [ARGMAX_W-1:0] amax;
    // With no live lane the tree already yields index 0 and every lane is masked downstream,
    // so the tree's own live flag is not needed here.
    /* verilator lint_off UNUSEDSIGNAL */
    wire                any_live;
    /* verilator lint_on UNUSEDSIGNAL */

    // the lanes' values and mask as the subtractors see them: q0 and m0, or MAX_PIPE registers
    // later beside the pipelined max tree
    wire [N*IN_W-1:0] qs;
    wire [N-1:0]      ms;
    generate
        // (an illegal MAX_PIPE, refused above, elaborates the plain tree: the refusal is the one error)
        if (MAX_PIPE < 1 || MAX_PIPE > ARGMAX_W_REQ) begin : g_max
            sm_max_tree #(.N(N), .W(IN_W), .IDX_W(ARGMAX_W)) u_max (
                .vals(q0), .mask(m0), .max_val(zmax), .max_idx(amax), .live(any_live));
            assign qs = q0;
            assign ms = m0;
        end else begin : g_max_pipe
            sm_max_pipe #(.N(N), .W(IN_W), .IDX_W(ARGMAX_W), .PIPE(MAX_PIPE)) u_max (
                .clk(clk), .en(en), .vals(q0), .mask(m0),
                .max_val(zmax), .max_idx(amax), .live(any_live));
            wire [N*IN_W-1:0] qd [0:MAX_PIPE];
            wire [N-1:0]      md [0:MAX_PIPE];
            assign qd[0] = q0;
            assign md[0] = m0;
            genvar k;
            for (k = 0; k < MAX_PIPE; k = k + 1) begin : g_st
                // sub-stage k of S1, beside the tree's k-th register (scripts/timing.py)
                reg [N*IN_W-1:0] qp1;
                reg [N-1:0]      mp1;
                always @(posedge clk) if (en) begin
                    qp1 <= qd[k];
                    mp1 <= md[k];
                end
                assign qd[k+1] = qp1;
                assign md[k+1] = mp1;
            end
            assign qs = qd[MAX_PIPE];
            assign ms = md[MAX_PIPE];
        end
    endgenerate

    // Subtractors. zmax >= q_i on live lanes, so the W-bit difference is exact; masked lanes
    // are zeroed after the look-up. (One loop writing one vector: see sm_exp_lanes.)
    reg [N*IN_W-1:0] delta;
    integer i;
    always @* begin
        for (i = 0; i < N; i = i + 1)
            delta[i*IN_W +: IN_W] = zmax - qs[i*IN_W +: IN_W];
    end

    reg [N*IN_W-1:0]   d1;
    reg [N-1:0]        m1;
    reg [ARGMAX_W-1:0] a1;
    always @(posedge clk) if (en) begin
        d1 <= delta;
        m1 <= ms;
        a1 <= amax;
    end

    // ---- S2: exp look-up ----
    wire [N*OUT_W-1:0] e;
    sm_exp_lanes #(
        .N(N), .IN_W(IN_W), .OFF_W(1), .OUT_FRAC(OUT_FRAC), .OUT_W(OUT_W),
        .EXP_ADDR_W(EXP_ADDR_W), .EXP_STEP_LOG2(EXP_STEP_LOG2), .EXP_TABLE_FILE(EXP_TABLE_FILE)
    ) u_exp (.d(d1), .off(1'b0), .mask(m1), .e(e));

    // e2 is the decision unit's output and the divider's or the sum's input; a log-domain unit
    // with a sum table reads only its own terms (es2), and synthesis drops e2 there
    /* verilator lint_off UNUSEDSIGNAL */
    reg [N*OUT_W-1:0]  e2;
    /* verilator lint_on UNUSEDSIGNAL */
    reg [ARGMAX_W-1:0] a2;
    always @(posedge clk) if (en) begin
        e2 <= e;
        a2 <= a1;
    end

    generate
        if (K == 1) begin : g_decision
            // eq. 18: the first look-up is the output.
            assign out_data   = e2;
            assign out_argmax = a2;
        end else if (K > 1) begin : g_norm     // (K < 1 is refused above; no datapath for it)
            // ---- S2 (sum table): the terms of the sum, SUM_FRAC fraction bits ----
            localparam integer SV = SUM_FRAC + 1;
            wire [N*SV-1:0] es2;
            if (SUM_TABLE != 0) begin : g_sum_table
                wire [N*SV-1:0] es;
                sm_exp_lanes #(
                    .N(N), .IN_W(IN_W), .OFF_W(1), .OUT_FRAC(SUM_FRAC), .OUT_W(SV),
                    .EXP_ADDR_W(SUM_ADDR_W), .EXP_STEP_LOG2(EXP_STEP_LOG2), .EXP_TABLE_FILE(SUM_TABLE_FILE)
                ) u_sum_exp (.d(d1), .off(1'b0), .mask(m1), .e(es));
                reg [N*SV-1:0] es_r;
                always @(posedge clk) if (en) es_r <= es;
                assign es2 = es_r;
            end else begin : g_no_sum_table
                assign es2 = e2;                 // SUM_FRAC = OUT_FRAC
            end

            // ---- S3: sum of the K largest terms, then L = ln(sum) ----
            wire [SUM_W-1:0] s;
            if (K == N) begin : g_full
                // Full softmax: every term counts, no selection.
                // (an illegal SUM_PIPE, refused below, elaborates the plain tree: the refusal is the one error)
                if (SUM_PIPE_ON != 0) begin : g_sum_pipe
                    sm_sum_pipe #(.N(N), .VW(SV), .FRAC(SUM_FRAC), .PIPE(SUM_PIPE)) u_sum (
                        .clk(clk), .en(en), .x(es2), .sum(s));
                end else begin : g_sum
                    sm_adder_tree #(.N(N), .VW(SV), .FRAC(SUM_FRAC)) u_sum (.x(es2), .sum(s));
                end
            end else begin : g_topk
                localparam integer P  = 1 << $clog2(K);                          // list kept
                localparam integer LO = (P < (1 << $clog2(N))) ? P : (1 << $clog2(N));
                // Sorting the final list is needed only to pick K of its LO entries.
                localparam integer SORT = (K == LO) ? 0 : 1;
                // Only the first (largest) K entries of the sorted list are summed.
                /* verilator lint_off UNUSEDSIGNAL */
                wire [LO*SV-1:0] top;
                /* verilator lint_on UNUSEDSIGNAL */
                sm_topk_tree #(.N(N), .P(P), .VW(SV), .SORT(SORT)) u_top (.x(es2), .y(top));
                wire [K*SV-1:0] tk;                     // the K largest terms
                if (TOPK_PIPE != 0) begin : g_pipe
                    reg [K*SV-1:0] t3;                  // registered
                    always @(posedge clk) if (en) t3 <= top[K*SV-1:0];
                    assign tk = t3;
                end else begin : g_comb
                    assign tk = top[K*SV-1:0];
                end
                if (SUM_PIPE_ON != 0) begin : g_sum_pipe
                    sm_sum_pipe #(.N(K), .VW(SV), .FRAC(SUM_FRAC), .PIPE(SUM_PIPE)) u_sum (
                        .clk(clk), .en(en), .x(tk), .sum(s));
                end else begin : g_sum
                    sm_adder_tree #(.N(K), .VW(SV), .FRAC(SUM_FRAC)) u_sum (.x(tk), .sum(s));
                end
            end

            reg [N*OUT_W-1:0]  y4;
            reg [ARGMAX_W-1:0] a4;
            if (NORM_DIVIDE != 0) begin : g_divide
                // ---- conventional: S3 registers the sum, S4 divides every lane by it ----
                reg [N*OUT_W-1:0]  e3;
                reg [SUM_W-1:0]    s3;
                reg [ARGMAX_W-1:0] a3;
                always @(posedge clk) if (en) begin
                    e3 <= e2;
                    s3 <= s;
                    a3 <= a2;
                end
                wire [N*OUT_W-1:0]  y;
                wire [ARGMAX_W-1:0] a_div;       // the argmax, delayed as the quotients are
                sm_div_lanes #(.N(N), .OUT_FRAC(OUT_FRAC), .OUT_W(OUT_W), .SUM_W(SUM_W),
                               .DIV_PIPE(DIV_PIPE), .SIDE_W(ARGMAX_W)) u_div (
                    .clk(clk), .en(en), .e(e3), .s(s3), .side(a3), .y(y), .side_out(a_div));
                always @(posedge clk) if (en) begin
                    y4 <= y;
                    a4 <= a_div;
                end
            end else begin : g_log
                // delta and mask ride along to the normalising look-up (one cycle more with
                // TOPK_PIPE and SUM_PIPE more with the pipelined sum, like the argmax)
                reg [N*IN_W-1:0] d2;
                reg [N-1:0]      m2;
                always @(posedge clk) if (en) begin
                    d2 <= d1;
                    m2 <= m1;
                end

                // SUM_PIPE registers more beside the pipelined sum (sub-stages S3.k, like the
                // sum's own registers g_st[k].ps3 in rtl/sm_sum_pipe.v)
                wire [N*IN_W-1:0]   dq;
                wire [N-1:0]        mq;
                wire [ARGMAX_W-1:0] aq;
                if (SUM_PIPE_ON != 0) begin : g_sum_side
                    wire [N*IN_W-1:0]   dd [0:SUM_PIPE];
                    wire [N-1:0]        md [0:SUM_PIPE];
                    wire [ARGMAX_W-1:0] ad [0:SUM_PIPE];
                    assign dd[0] = d2;
                    assign md[0] = m2;
                    assign ad[0] = a2;
                    genvar k;
                    for (k = 0; k < SUM_PIPE; k = k + 1) begin : g_st
                        reg [N*IN_W-1:0]   ds3;
                        reg [N-1:0]        ms3;
                        reg [ARGMAX_W-1:0] as3;
                        always @(posedge clk) if (en) begin
                            ds3 <= dd[k];
                            ms3 <= md[k];
                            as3 <= ad[k];
                        end
                        assign dd[k+1] = ds3;
                        assign md[k+1] = ms3;
                        assign ad[k+1] = as3;
                    end
                    assign dq = dd[SUM_PIPE];
                    assign mq = md[SUM_PIPE];
                    assign aq = ad[SUM_PIPE];
                end else begin : g_sum_side_none
                    assign dq = d2;
                    assign mq = m2;
                    assign aq = a2;
                end

                wire [LN_W-1:0] l;
                sm_ln_lookup #(
                    .SUM_W(SUM_W), .OUT_FRAC(SUM_FRAC), .LN_MANT_BITS(LN_MANT_BITS),
                    .LN_EXP_BITS(LN_EXP_BITS), .LN_DEPTH(LN_DEPTH), .LN_W(LN_W),
                    .LN_TABLE_FILE(LN_TABLE_FILE)
                ) u_ln (.s(s), .l(l));

                reg [N*IN_W-1:0]   d3;
                reg [N-1:0]        m3;
                reg [LN_W-1:0]     l3;
                reg [ARGMAX_W-1:0] a3;
                if (TOPK_PIPE != 0) begin : g_side_pipe
                    // the extra stage of the split S3 (stage registers keep the <name><stage> names)
                    reg [N*IN_W-1:0]   dp3;
                    reg [N-1:0]        mp3;
                    reg [ARGMAX_W-1:0] ap3;
                    always @(posedge clk) if (en) begin
                        dp3 <= dq;
                        mp3 <= mq;
                        ap3 <= aq;
                        d3  <= dp3;
                        m3  <= mp3;
                        l3  <= l;
                        a3  <= ap3;
                    end
                end else begin : g_side
                    always @(posedge clk) if (en) begin
                        d3 <= dq;
                        m3 <= mq;
                        l3 <= l;
                        a3 <= aq;
                    end
                end

                // ---- S4: normalise in the log domain, y_i = exp_lookup(delta_i + L) ----
                wire [N*OUT_W-1:0] y;
                sm_exp_lanes #(
                    .N(N), .IN_W(IN_W), .OFF_W(LN_W), .OUT_FRAC(OUT_FRAC), .OUT_W(OUT_W),
                    .EXP_ADDR_W(EXP_ADDR_W), .EXP_STEP_LOG2(EXP_STEP_LOG2),
                    .EXP_TABLE_FILE(EXP_TABLE_FILE)
                ) u_norm (.d(d3), .off(l3), .mask(m3), .e(y));

                always @(posedge clk) if (en) begin
                    y4 <= y;
                    a4 <= a3;
                end
            end

            assign out_data   = y4;
            assign out_argmax = a4;
        end
    endgenerate

    // (checked here, after the datapath, so that the unnamed generate blocks above keep their
    // numbers: genblk17.g_norm... in the timing reports)
    generate
        if (SUM_PIPE < 0 || SUM_PIPE > SUM_PIPE_MAX) begin : g_err_sum_pipe
            softmax_unit_param_error_SUM_PIPE_in_0_to_clog2_K_and_only_for_log_domain_K_gt_1 u_err();
        end
    endgenerate
endmodule
