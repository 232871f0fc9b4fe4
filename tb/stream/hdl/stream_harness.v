// Stand-alone harness of the streaming unit (tb/stream/run.py builds and runs it; no cocotb).
// One simulation replays one block of beats from a $readmemh file and records both ports:
//
//   stimulus word per beat: {rst, gap[7:0], last, keep[P-1:0], mask[P-1:0], data[P*IN_W-1:0]}
//     gap    : idle cycles (s_valid = 0) before this beat;
//     rst = 1: after the gap, pulse reset for two cycles, then drive this beat. After a row's
//              last beat, the gap lets the reset fall inside that row's sum or output pass.
//   ready pattern: +rdy=<file of 0/1 lines>, +rdylen=<n>; m_ready follows it cyclically.
//   logs: +in_log  "I <cycle> <last> <keep> <mask> <data>"   one line per accepted input beat
//         +out_log "O <cycle> <last> <keep> <argmax> <data>" one line per output handshake
//         and "R <cycle>" in both at each reset, "S <cycle>" (out log) while a beat waits.
// The simulation ends when every beat is driven and the unit has been idle (s_ready = 1,
// m_valid = 0) for +idle=<n> cycles, or at +max_cycles=<n> (a hang: "T <cycle>" is logged).
`timescale 1ns / 1ps

module stream_harness;
`include "stream_harness_cfg.vh"
  localparam integer STIM_W = 1 + 8 + 1 + 2 * P + P * IN_W;

  reg clk = 1'b0;
  always #5 clk = ~clk;

  reg                 rst_n = 1'b0;
  reg                 s_valid = 1'b0, s_last = 1'b0, m_ready = 1'b1;
  reg  [P*IN_W-1:0]   s_data = 0;
  reg  [P-1:0]        s_keep = 0, s_mask = 0;
  wire                s_ready, m_valid, m_last;
  wire [P*OUT_W-1:0]  m_data;
  wire [P-1:0]        m_keep;
  wire [IDX_W-1:0]    m_argmax;

  sm_stream_unit #(`SMX_STREAM_PARAMS) dut (
    .clk(clk), .rst_n(rst_n),
    .s_valid(s_valid), .s_ready(s_ready), .s_data(s_data), .s_keep(s_keep), .s_mask(s_mask),
    .s_last(s_last),
    .m_valid(m_valid), .m_ready(m_ready), .m_data(m_data), .m_keep(m_keep), .m_last(m_last),
    .m_argmax(m_argmax));

  reg [STIM_W-1:0] stim [0:`SMX_STIM_DEPTH-1];
  reg              rdy  [0:`SMX_RDY_DEPTH-1];
  reg [1023:0]     stim_file, rdy_file, in_log_file, out_log_file;
  integer nbeats, rdylen, idle_limit, max_cycles, fin, fout;
  integer idx, gap, rdy_idx, idle, cycle, rst_left;
  reg [STIM_W-1:0] w;

  initial begin
    if (!$value$plusargs("stim=%s", stim_file) || !$value$plusargs("nbeats=%d", nbeats) ||
        !$value$plusargs("rdy=%s", rdy_file) || !$value$plusargs("rdylen=%d", rdylen) ||
        !$value$plusargs("in_log=%s", in_log_file) || !$value$plusargs("out_log=%s", out_log_file) ||
        !$value$plusargs("idle=%d", idle_limit) || !$value$plusargs("max_cycles=%d", max_cycles)) begin
      $display("stream_harness: ERROR: +stim +nbeats +rdy +rdylen +in_log +out_log +idle +max_cycles are required");
      $finish;
    end
    if (nbeats < 1 || nbeats > `SMX_STIM_DEPTH || rdylen < 1 || rdylen > `SMX_RDY_DEPTH) begin
      $display("stream_harness: ERROR: %0d beats (1..%0d), %0d ready bits (1..%0d)",
               nbeats, `SMX_STIM_DEPTH, rdylen, `SMX_RDY_DEPTH);
      $finish;
    end
    $readmemh(stim_file, stim, 0, nbeats - 1);
    $readmemb(rdy_file, rdy, 0, rdylen - 1);
    fin  = $fopen(in_log_file, "w");
    fout = $fopen(out_log_file, "w");
    idx = 0; gap = 0; rdy_idx = 0; idle = 0; cycle = 0; rst_left = 2;   // reset at start
    gap = stim[0][STIM_W-2 -: 8];
  end

  always @(posedge clk) begin
    cycle <= cycle + 1;
    m_ready <= rdy[rdy_idx];
    rdy_idx <= (rdy_idx + 1 >= rdylen) ? 0 : rdy_idx + 1;

    // ---- recorders: what crossed the ports at this edge
    if (rst_n) begin
      if (s_valid && s_ready)
        $fwrite(fin, "I %h %h %h %h %h\n", cycle, s_last, s_keep, s_mask, s_data);
      if ((m_valid & m_ready) !== 1'b0)
        $fwrite(fout, "O %h %h %h %h %h\n", cycle, m_last, m_keep, m_argmax, m_data);
      if (m_valid === 1'b1 && m_ready !== 1'b1)
        $fwrite(fout, "S %h\n", cycle);      // backpressure: the beat shown waits
    end

    // ---- driver
    if (rst_left > 0) begin
      rst_n <= 1'b0; s_valid <= 1'b0; rst_left <= rst_left - 1;
      if (rst_left == 2 && cycle > 0) begin
        $fwrite(fin, "R %h\n", cycle);
        $fwrite(fout, "R %h\n", cycle);
      end
    end else begin
      rst_n <= 1'b1;
      if (!s_valid || s_ready) begin
        if (gap > 0) begin
          s_valid <= 1'b0; gap <= gap - 1;
        end else if (idx < nbeats && stim[idx][STIM_W-1]) begin
          // a reset requested before this beat (after its gap): pulse it, then drive the beat
          stim[idx][STIM_W-1] <= 1'b0;
          s_valid <= 1'b0; rst_left <= 2;
        end else if (idx < nbeats) begin
          w = stim[idx];
          s_data  <= w[P*IN_W-1:0];
          s_mask  <= w[P*IN_W +: P];
          s_keep  <= w[P*IN_W + P +: P];
          s_last  <= w[P*IN_W + 2*P];
          s_valid <= 1'b1;
          idx     <= idx + 1;
          gap     <= (idx + 1 < nbeats) ? stim[idx + 1][STIM_W-2 -: 8] : 0;
        end else begin
          s_valid <= 1'b0;
        end
      end
    end

    // ---- end of the run
    if (idx >= nbeats && !s_valid && rst_n && s_ready && !m_valid) idle <= idle + 1;
    else idle <= 0;
    if (idle >= idle_limit) begin
      $fclose(fin); $fclose(fout);
      $finish;
    end
    if (cycle >= max_cycles) begin
      $fwrite(fout, "T %h\n", cycle);
      $fclose(fin); $fclose(fout);
      $finish;
    end
  end
endmodule
