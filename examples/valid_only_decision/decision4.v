// decision4: a 4-lane decision unit (eq. 18: y_i = exp(z_i - max z)) with no backpressure,
// the worked example of docs/byo.md. Input lanes signed Q(3,2), lane 0 at the LSB; outputs
// unsigned Q(1,4) (1.0 = 16), one clock after in_valid. Reset: rst, asynchronous, active high.
module decision4 (
    input  wire        clk,
    input  wire        rst,
    input  wire        in_valid,
    input  wire [19:0] in_data,
    output reg         out_valid,
    output reg  [19:0] out_data,
    output reg  [1:0]  out_argmax
);
    // exp(-d/4) * 16 rounded, d = 0..31 quarter steps (beyond: 0)
    reg [4:0] exp_table [0:31];
    integer t, entry;
    initial for (t = 0; t < 32; t = t + 1) begin
        entry = $rtoi(16.0 * $exp(-t / 4.0) + 0.5);
        exp_table[t] = entry[4:0];
    end

    wire signed [4:0] z0 = in_data[4:0], z1 = in_data[9:5], z2 = in_data[14:10], z3 = in_data[19:15];
    wire signed [4:0] m01 = (z1 > z0) ? z1 : z0;
    wire signed [4:0] m23 = (z3 > z2) ? z3 : z2;
    wire signed [4:0] zmax = (m23 > m01) ? m23 : m01;
    wire [1:0] a01 = (z1 > z0) ? 2'd1 : 2'd0;
    wire [1:0] a23 = (z3 > z2) ? 2'd3 : 2'd2;
    wire [1:0] amax = (m23 > m01) ? a23 : a01;

    function [4:0] e_of(input signed [4:0] z, input signed [4:0] m);
        reg [5:0] d;
        begin
            d = m - z;                              // 0..31 quarter steps
            e_of = exp_table[d[4:0]];
        end
    endfunction

    always @(posedge clk or posedge rst) begin
        if (rst) begin
            out_valid <= 1'b0;
        end else begin
            out_valid  <= in_valid;
            out_data   <= {e_of(z3, zmax), e_of(z2, zmax), e_of(z1, zmax), e_of(z0, zmax)};
            out_argmax <= amax;
        end
    end
endmodule
