// Top-P selection tree: the P largest of N unsigned values, as a list of LO = min(P, 2^ceil(log2 N))
// elements (zero-padded when N < LO). With SORT = 1 the list is in descending order.
//
// Recursive merge tree: the lower 2^(ceil(log2 N)-1) inputs and the remaining ones are reduced
// to sorted lists A (length LA) and B (length LB <= LA, padded with zeros to LA), then
//  - if both fit (2*LA <= P): A followed by B reversed is bitonic and holds every element;
//  - otherwise (LA = P): c_j = max(A_j, B_{P-1-j}) keeps exactly the P largest of A and B,
//    again as a bitonic sequence (Batcher's half-cleaner on two sorted lists);
// and a bitonic merger sorts it when SORT = 1. Only values travel (no indices): the caller only
// needs the sum of the K largest, which does not depend on how ties are broken.
// Zero padding is harmless: the values are exp look-ups (>= 0), and a zero adds nothing to a sum.
// Combinational.
`timescale 1ns / 1ps

module sm_topk_tree #(
    parameter integer N    = 10,
    parameter integer P    = 4,    // list length kept, a power of two
    parameter integer VW   = 11,
    parameter integer SORT = 1,    // 1: output sorted descending; 0: any order
    // Derived (do not override): output list length.
    parameter integer LO   = (P < (1 << $clog2(N))) ? P : (1 << $clog2(N))
) (
    input  wire [N*VW-1:0]  x,     // element i at [i*VW +: VW]
    output wire [LO*VW-1:0] y      // element j at [j*VW +: VW]
);
    generate
        if (N == 1) begin : g_leaf
            assign y = x;
        end else begin : g_node
            localparam integer NA = 1 << ($clog2(N) - 1);   // lower part, a power of two
            localparam integer NB = N - NA;                  // upper part, NB <= NA
            localparam integer LA = (P < NA) ? P : NA;
            localparam integer LB = (P < (1 << $clog2(NB))) ? P : (1 << $clog2(NB));

            wire [LA*VW-1:0] a;
            wire [LB*VW-1:0] b;
            wire [LO*VW-1:0] seq;   // bitonic, holds the LO largest

            sm_topk_tree #(.N(NA), .P(P), .VW(VW), .SORT(1)) u_a (.x(x[NA*VW-1:0]),    .y(a));
            sm_topk_tree #(.N(NB), .P(P), .VW(VW), .SORT(1)) u_b (.x(x[N*VW-1:NA*VW]), .y(b));

            genvar j;
            for (j = 0; j < LO; j = j + 1) begin : g_seq
                if (2 * LA <= P) begin : g_cat
                    // LO = 2*LA: A, then B reversed (B zero-padded to LA).
                    if (j < LA) begin : g_a
                        assign seq[j*VW +: VW] = a[j*VW +: VW];
                    end else if (2*LA-1-j < LB) begin : g_b
                        assign seq[j*VW +: VW] = b[(2*LA-1-j)*VW +: VW];
                    end else begin : g_pad
                        assign seq[j*VW +: VW] = {VW{1'b0}};
                    end
                end else begin : g_half
                    // LO = LA = P: keep the larger of A_j and B_{P-1-j}.
                    if (P-1-j < LB) begin : g_max
                        wire [VW-1:0] u = a[j*VW +: VW];
                        wire [VW-1:0] v = b[(P-1-j)*VW +: VW];
                        assign seq[j*VW +: VW] = (u >= v) ? u : v;
                    end else begin : g_a
                        assign seq[j*VW +: VW] = a[j*VW +: VW];
                    end
                end
            end

            if (SORT != 0) begin : g_sort
                sm_bitonic_merge #(.L(LO), .VW(VW)) u_merge (.x(seq), .y(y));
            end else begin : g_nosort
                assign y = seq;
            end
        end
    endgenerate
endmodule
