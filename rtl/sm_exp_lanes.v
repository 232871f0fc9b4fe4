// N lanes of exp_lookup(d_i + off) (docs/numerics.md, section 3 steps 3 and 6):
//
//     exp_lookup(x) = ONE          if x == 0
//                   = EXP[x >> S]  if (x >> S) < D         (S = EXP_STEP_LOG2, D = 2^EXP_ADDR_W)
//                   = 0            otherwise
//
// and 0 on masked lanes. The first look-up (step 3) uses off = 0; the normalising one (step 6)
// uses off = L, the ln of the top-K sum. The table is one memory array loaded with $readmemh
// from EXP_TABLE_FILE (written by models.tables.write_tables); each lane has its own
// combinational read port into it. No table value is computed here.
// Combinational.
`timescale 1ns / 1ps

module sm_exp_lanes #(
    parameter integer N             = 10,
    parameter integer IN_W          = 10,  // width of the differences d_i (unsigned)
    parameter integer OFF_W         = 1,   // width of the common offset (unsigned)
    parameter integer OUT_FRAC      = 10,
    parameter integer OUT_W         = 11,  // OUT_FRAC + 1
    parameter integer EXP_ADDR_W    = 8,
    parameter integer EXP_STEP_LOG2 = 0,
    parameter         EXP_TABLE_FILE = "exp_table.hex"
) (
    input  wire [N*IN_W-1:0]  d,      // lane i at [i*IN_W +: IN_W]
    input  wire [OFF_W-1:0]   off,
    input  wire [N-1:0]       mask,   // 1 = live lane
    output wire [N*OUT_W-1:0] e       // lane i at [i*OUT_W +: OUT_W]
);
    // x = d + off needs one bit more than the wider operand.
    localparam integer XW   = ((IN_W > OFF_W) ? IN_W : OFF_W) + 1;
    localparam integer TOP  = EXP_STEP_LOG2 + EXP_ADDR_W;   // x >= 2^TOP lies beyond the table
    localparam [OUT_W-1:0] ONE = {1'b1, {OUT_FRAC{1'b0}}};

    reg [OUT_W-1:0] exp_rom [0:(1 << EXP_ADDR_W) - 1];
    initial $readmemh(EXP_TABLE_FILE, exp_rom);

    // All lanes in one process writing one vector: Icarus runs this an order of magnitude
    // faster than N generate blocks each driving a slice of a shared output bus.
    reg [N*OUT_W-1:0] e_r;
    reg [XW-1:0]      x;
    integer i;
    always @* begin
        for (i = 0; i < N; i = i + 1) begin
            x = {{(XW-IN_W){1'b0}}, d[i*IN_W +: IN_W]} + {{(XW-OFF_W){1'b0}}, off};
            if (!mask[i])
                e_r[i*OUT_W +: OUT_W] = {OUT_W{1'b0}};
            else if (x == {XW{1'b0}})
                e_r[i*OUT_W +: OUT_W] = ONE;
            else if (x[XW-1:TOP] != {(XW-TOP){1'b0}})      // beyond the table
                e_r[i*OUT_W +: OUT_W] = {OUT_W{1'b0}};
            else
                e_r[i*OUT_W +: OUT_W] = exp_rom[x[EXP_STEP_LOG2 +: EXP_ADDR_W]];
        end
    end
    assign e = e_r;
endmodule
