`timescale 1ns/1ps
// Fault-injection shim, used only by tests/test_sim_mutants.py: it wraps the real softmax_unit
// and breaks its port behaviour in one way chosen by `SMX_MUTANT, so that the tests can show
// that every check of the environment fails when it should. Never part of a normal build.
//
//   1 lane_lsb       flips bit 0 of the last lane when that lane outputs a value in (ONE/2, ONE)
//   2 argmax_high    out_argmax names the highest lane holding the largest output value
//   3 drop           every 97th output handshake is swallowed (the DUT sees ready, the harness no valid)
//   4 duplicate      every 97th output is presented twice
//   5 x_data         lane 0 of every 61st output is X (visible on 4-state simulators only)
//   6 stale          the last output before a reset is presented again after it
//   7 mask_ignored   the DUT sees every lane live
//   8 x_valid        out_valid is X for one cycle, 50 cycles after each reset (4-state only)
//   9 lost_input     every 89th input handshake is acknowledged but never reaches the DUT
module smx_mutant (clk, rst_n, in_valid, in_ready, in_data, in_mask, out_valid, out_ready, out_data, out_argmax);
`include "softmax_harness_cfg.vh"
  localparam integer M = `SMX_MUTANT;
  localparam integer ONE = 1 << (OUT_W - 1);
  input  wire                clk, rst_n, in_valid, out_ready;
  output wire                in_ready, out_valid;
  input  wire [N*IN_W-1:0]   in_data;
  input  wire [N-1:0]        in_mask;
  output reg  [N*OUT_W-1:0]  out_data;
  output reg  [ARGMAX_W-1:0] out_argmax;

  wire                d_in_ready, d_out_valid;
  wire [N*OUT_W-1:0]  d_out_data;
  wire [ARGMAX_W-1:0] d_out_argmax;
  reg [31:0] n_out = 0, n_dout = 0, n_in = 0, since_reset = 0;   // harness-side / DUT-side counts
  reg stale_pending = 0;
  reg [N*OUT_W-1:0] last_data = 0;
  reg [ARGMAX_W-1:0] last_argmax = 0;

  wire fault_drop = (M == 3) && d_out_valid && (n_dout % 97 == 96);
  wire fault_dup  = (M == 4) && d_out_valid && (n_out % 97 == 96);
  wire fault_in  = (M == 9) && in_valid && (n_in % 89 == 88);
  wire stale_now = (M == 6) && stale_pending && !d_out_valid;

  softmax_unit #(`SMX_DUT_PARAMS) u_real (
    .clk(clk), .rst_n(rst_n),
    .in_valid(in_valid && !fault_in), .in_ready(d_in_ready), .in_data(in_data),
    .in_mask(M == 7 ? {N{1'b1}} : in_mask),
    .out_valid(d_out_valid), .out_ready(fault_dup ? 1'b0 : out_ready),
    .out_data(d_out_data), .out_argmax(d_out_argmax));

  assign in_ready  = fault_in ? 1'b1 : d_in_ready;
  assign out_valid = (M == 8 && since_reset == 50) ? 1'bx :
                     fault_drop ? 1'b0 : (d_out_valid || stale_now);

  integer i;
  reg [OUT_W-1:0] v, best;
  always @* begin
    out_data = stale_now ? last_data : d_out_data;
    out_argmax = stale_now ? last_argmax : d_out_argmax;
    if (M == 1) begin
      v = d_out_data[(N-1)*OUT_W +: OUT_W];
      if (v > ONE / 2 && v < ONE) out_data[(N-1)*OUT_W] = ~v[0];
    end
    if (M == 2) begin
      best = 0;
      for (i = 0; i < N; i = i + 1)
        if (d_out_data[i*OUT_W +: OUT_W] >= best) begin best = d_out_data[i*OUT_W +: OUT_W]; out_argmax = i; end
    end
    if (M == 5 && n_out % 61 == 60) out_data[OUT_W-1:0] = {OUT_W{1'bx}};
  end

  always @(posedge clk) begin
    if (!rst_n) begin
      since_reset <= 0;
      stale_pending <= (M == 6) && (n_out != 0);
    end else begin
      since_reset <= since_reset + 1;
      if (out_valid === 1'b1 && out_ready) begin
        n_out <= n_out + 1;
        if (!stale_now) begin last_data <= d_out_data; last_argmax <= d_out_argmax; end
        if (stale_now) stale_pending <= 1'b0;
      end
      if (in_valid && in_ready) n_in <= n_in + 1;
      if (d_out_valid && out_ready && !fault_dup) n_dout <= n_dout + 1;
    end
  end
endmodule
