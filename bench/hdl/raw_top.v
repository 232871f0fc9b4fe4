`timescale 1ns / 1ps
// Raw simulator reference for bench/bench_raw.py: softmax_unit with nothing around it but an
// input generator and an output fold, to measure what the simulator alone can do.
//   * inputs: xorshift64 generators (linear feedback over GF(2), one per 64 input bits, distinct
//     seeds) give a new vector on every clock; in_valid and out_ready stay high, every lane live;
//   * outputs: every accepted output (data and argmax) is XORed into an accumulator, folded to
//     64 bits and printed once at the end; no file I/O, no per-cycle printing.
// +vectors=<n> sets how many outputs to wait for (default 1000).
// softmax_harness_cfg.vh (written by bench/bench_raw.py with tb.build.harness_header) defines N, IN_W,
// OUT_W, ARGMAX_W and the DUT parameter list `SMX_DUT_PARAMS.
module raw_top;
`include "softmax_harness_cfg.vh"

  localparam integer IN_BITS = N * IN_W;
  localparam integer OUT_BITS = N * OUT_W;
  localparam integer GENS = (IN_BITS + 63) / 64;

  reg clk = 1'b0;
  reg rst_n = 1'b0;
  wire in_ready;
  wire out_valid;
  wire [OUT_BITS-1:0] out_data;
  wire [ARGMAX_W-1:0] out_argmax;
  reg [GENS*64-1:0] state;
  reg [OUT_BITS-1:0] acc_data;
  reg [ARGMAX_W-1:0] acc_argmax;
  reg [63:0] n_out;
  reg [63:0] target;

  softmax_unit #(`SMX_DUT_PARAMS) dut (
      .clk(clk), .rst_n(rst_n), .in_valid(rst_n), .in_ready(in_ready), .in_data(state[IN_BITS-1:0]),
      .in_mask({N{1'b1}}), .out_valid(out_valid), .out_ready(1'b1), .out_data(out_data),
      .out_argmax(out_argmax));

  always #5 clk = ~clk;

  function automatic [63:0] xorshift64(input [63:0] x);
    reg [63:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 7);
      xorshift64 = y ^ (y << 17);
    end
  endfunction

  // a new vector after every accepted one (in_valid = rst_n)
  genvar g;
  generate
    for (g = 0; g < GENS; g = g + 1) begin : gen
      always @(posedge clk)
        if (!rst_n) state[g*64 +: 64] <= 64'h9E3779B97F4A7C15 ^ (64'd1 + g) * 64'hBF58476D1CE4E5B9;
        else if (in_ready) state[g*64 +: 64] <= xorshift64(state[g*64 +: 64]);
    end
  endgenerate

  always @(posedge clk)
    if (!rst_n) begin
      acc_data <= {OUT_BITS{1'b0}};
      acc_argmax <= {ARGMAX_W{1'b0}};
      n_out <= 64'd0;
    end else if (out_valid) begin
      acc_data <= acc_data ^ out_data;
      acc_argmax <= acc_argmax ^ out_argmax;
      n_out <= n_out + 64'd1;
      // the end is checked here, on the clock, rather than with a wait: a level wait costs a
      // trigger evaluation on every change of n_out in Verilator's timing scheduler
      if (n_out + 64'd1 == target) begin
        $display("RAW vectors=%0d xor=%016h argmax_xor=%0h", n_out + 64'd1, fold(acc_data ^ out_data),
                 acc_argmax ^ out_argmax);
        $finish;
      end
    end

  function automatic [63:0] fold(input [OUT_BITS-1:0] x);
    integer i;
    begin
      fold = 64'd0;
      for (i = 0; i < OUT_BITS; i = i + 1) fold[i % 64] = fold[i % 64] ^ x[i];
    end
  endfunction

  initial begin
    if (!$value$plusargs("vectors=%d", target)) target = 64'd1000;
    repeat (4) @(posedge clk);
    rst_n <= 1'b1;
  end
endmodule
