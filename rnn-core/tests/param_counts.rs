//! Parameter counts of the zoo against the formulas of their papers (H hidden, I input).

use rnn_core::ParamSet;
use rnn_core::cells::*;

#[test]
fn counts_match_the_papers() {
    let (h, i) = (5, 4);
    // Greff et al. 2017: vanilla LSTM 4H(I + H) + 4H biases + 3H peepholes; CIFG drops the
    // forget gate's weights, bias and peephole.
    let cifg = Cifg::<f64>::new(CifgDims { H: h, I: i }).unwrap();
    assert_eq!(cifg.param_count(), 3 * h * (i + h) + 3 * h + 2 * h);
    let peephole = PeepholeLstm::<f64>::new(PeepholeLstmDims { H: h, I: i }).unwrap();
    assert_eq!(peephole.param_count(), 4 * h * (i + h) + 4 * h + 3 * h);
    assert_eq!(peephole.param_count() - cifg.param_count(), h * (i + h) + h + h);
    // Li et al. 2018: IndRNN has an input matrix, a recurrent *vector* and a bias.
    let indrnn = IndRnn::<f64>::new(IndRnnDims { H: h, I: i }).unwrap();
    assert_eq!(indrnn.param_count(), h * i + 2 * h);
    // Zhou et al. 2016: MGU has two gate-sized transforms of [h; x] with biases.
    let mgu = Mgu::<f64>::new(MguDims { H: h, I: i }).unwrap();
    assert_eq!(mgu.param_count(), 2 * (h * (h + i) + h));
    // PyTorch: G·H·(I + H) + 2·G·H with G = 4 (LSTM), 3 (GRU), 1 (RNN).
    assert_eq!(
        Lstm::<f64>::new(LstmDims { H: h, I: i }).unwrap().param_count(),
        4 * h * (i + h) + 8 * h
    );
    assert_eq!(
        Gru::<f64>::new(GruDims { H: h, I: i }).unwrap().param_count(),
        3 * h * (i + h) + 6 * h
    );
    assert_eq!(
        RnnRelu::<f64>::new(RnnReluDims { H: h, I: i })
            .unwrap()
            .param_count(),
        h * (i + h) + 2 * h
    );
}
