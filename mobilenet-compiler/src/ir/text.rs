//! The IR's text form: what `mobilenetc ir` prints and snapshots hold.
//!
//! One line per node, in execution order:
//!
//! ```text
//! %block_1_pad = zero_pad(%block_1_expand_relu) pad=0,1,0,1 : [113,113,96]
//! %block_1_depthwise = depthwise(%block_1_pad) k=3x3 s=2 c=96->96 w=block_1_depthwise : [56,56,96]
//! ```
//!
//! `pad=top,bottom,left,right`; `k` kernel, `s` stride, `c` channels in->out,
//! `w` the Keras layer whose weights the node reads. Fused convs list what
//! they absorbed: `bn=<layer>(eps)`, `act=<fn>`, and the residual input as a
//! second operand.

use std::fmt::{self, Write};

use super::{Conv, ConvKind, DenseAct, Framework, Graph, NodeId, Op, Padding};

impl fmt::Display for Graph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.framework {
            Framework::Keras => writeln!(f, "graph {}", self.name)?,
            other => writeln!(f, "graph {} ({other})", self.name)?,
        }
        for id in self.ids() {
            writeln!(f, "{}", self.line(id))?;
        }
        writeln!(f, "return %{}", self.node(self.output()).name)
    }
}

impl Graph {
    /// The text of one node, as in the graph's text form.
    pub fn line(&self, id: NodeId) -> String {
        let n = self.node(id);
        let mut line = format!("%{} = {}(", n.name, n.op.mnemonic());
        for (i, x) in n.inputs.iter().enumerate() {
            if i > 0 {
                line.push_str(", ");
            }
            let _ = write!(line, "%{}", self.node(*x).name);
        }
        line.push(')');
        let attrs = attrs(&n.op);
        if !attrs.is_empty() {
            line.push(' ');
            line.push_str(&attrs);
        }
        let _ = write!(line, " : {}", n.shape);
        line
    }
}

fn pad(p: &Padding) -> String {
    format!("pad={},{},{},{}", p.top, p.bottom, p.left, p.right)
}

fn attrs(op: &Op) -> String {
    match op {
        Op::Input | Op::Add | Op::Mul | Op::Flatten | Op::Softmax | Op::Activation(_) => String::new(),
        Op::Rescale { scale, offset } => format!("scale={scale} offset={offset}"),
        Op::ZeroPad(p) => pad(p),
        Op::BatchNorm(bn) => format!("c={} eps={} w={}", bn.channels, bn.epsilon, bn.layer),
        Op::GlobalPool { keepdims, .. } => {
            if *keepdims {
                "keepdims".into()
            } else {
                String::new()
            }
        }
        Op::Dense(d) => {
            let mut s = format!("{}->{} w={}", d.in_features, d.units, d.layer);
            if d.bias {
                s.push_str(" bias");
            }
            if let Some(bn) = &d.batch_norm {
                let _ = write!(s, " bn={}(eps={})", bn.layer, bn.epsilon);
            }
            match d.activation {
                Some(DenseAct::Elementwise(a)) => {
                    let _ = write!(s, " act={a}");
                }
                Some(DenseAct::Softmax) => s.push_str(" act=softmax"),
                None => {}
            }
            s
        }
        Op::Conv(c) => conv_attrs(c),
        Op::Block(b) => {
            let mut s = String::new();
            for (what, c) in
                [("expand", b.expand.as_ref()), ("depthwise", Some(&b.depthwise)), ("project", b.project.as_ref())]
            {
                if let Some(c) = c {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    let _ = write!(s, "{what}{{{}}}", conv_attrs(c));
                }
            }
            s
        }
    }
}

fn conv_attrs(c: &Conv) -> String {
    let mut s = format!("k={}x{} s={}", c.kernel[0], c.kernel[1], c.stride[0]);
    if c.stride[0] != c.stride[1] {
        let _ = write!(s, "x{}", c.stride[1]);
    }
    if !c.padding.is_zero() {
        let _ = write!(s, " {}", pad(&c.padding));
    }
    let _ = write!(s, " c={}->{}", c.in_channels, c.out_channels);
    if let ConvKind::Depthwise { multiplier } = c.kind
        && multiplier != 1
    {
        let _ = write!(s, " mult={multiplier}");
    }
    let _ = write!(s, " w={}", c.layer);
    if c.bias {
        s.push_str(" bias");
    }
    if let Some(bn) = &c.batch_norm {
        let _ = write!(s, " bn={}(eps={})", bn.layer, bn.epsilon);
    }
    if let Some(a) = c.activation {
        let _ = write!(s, " act={a}");
    }
    if c.residual {
        s.push_str(" +residual");
    }
    s
}
