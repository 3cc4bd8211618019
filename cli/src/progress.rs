//! The client's start-up progress lines on stdout, in English or, when the locale is Chinese,
//! in Chinese.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

pub use tokengo_discovery::progress::{NoProgress, Progress, Step};

/// Language of the progress lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Zh,
}

impl Lang {
    /// Chinese when the first set of `LC_ALL`, `LC_MESSAGES`, `LANG` starts with `zh`.
    pub fn from_env() -> Lang {
        let locale = ["LC_ALL", "LC_MESSAGES", "LANG"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .find(|v| !v.is_empty())
            .unwrap_or_default();
        Lang::from_locale(&locale)
    }

    /// The language for a locale name such as `zh_CN.UTF-8`.
    pub fn from_locale(locale: &str) -> Lang {
        if locale.to_ascii_lowercase().starts_with("zh") {
            Lang::Zh
        } else {
            Lang::En
        }
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

/// The line for a step.
pub fn render(step: &Step, lang: Lang) -> String {
    use Step::*;
    match (step, lang) {
        (Banner { version }, _) => format!("TokenGo Client v{version}"),
        (ConnectingDht, Lang::Zh) => "正在连接 DHT 网络...".into(),
        (ConnectingDht, Lang::En) => "Connecting to the DHT network...".into(),
        (ConnectedBootstrap { nodes }, Lang::Zh) => format!("已连接到 {nodes} 个引导节点"),
        (ConnectedBootstrap { nodes }, Lang::En) => {
            format!("Connected to {nodes} bootstrap nodes")
        }
        (DiscoveringRelays, Lang::Zh) => "正在发现 Relay 节点...".into(),
        (DiscoveringRelays, Lang::En) => "Discovering relays...".into(),
        (RelaysFound { count }, Lang::Zh) => {
            format!("发现 {count} 个 Relay 节点，正在测量延迟...")
        }
        (RelaysFound { count }, Lang::En) => {
            format!("Found {count} relays, measuring latency...")
        }
        (
            RelayProbed {
                name,
                latency,
                selected,
            },
            lang,
        ) => {
            let latency = match (latency, lang) {
                (Some(d), _) => format!("{}ms", ms(*d)),
                (None, Lang::Zh) => "不可达".into(),
                (None, Lang::En) => "unreachable".into(),
            };
            let mark = if *selected { " [selected]" } else { "" };
            format!("  {name}: {latency}{mark}")
        }
        (RelaySelected { latency }, Lang::Zh) => {
            format!("已选择最佳 Relay ({}ms)", ms(*latency))
        }
        (RelaySelected { latency }, Lang::En) => {
            format!("Selected the best relay ({}ms)", ms(*latency))
        }
        (FetchingExitKeys, Lang::Zh) => "正在获取 Exit 公钥...".into(),
        (FetchingExitKeys, Lang::En) => "Fetching exit keys...".into(),
        (ExitKeyFetched { hash }, Lang::Zh) => {
            format!("已获取 Exit 公钥 (Hash: {}...)", short(hash))
        }
        (ExitKeyFetched { hash }, Lang::En) => {
            format!("Exit key fetched (Hash: {}...)", short(hash))
        }
        (Serving { listen }, Lang::Zh) => {
            format!("已在 {listen} 监听，但还没有可用的 Relay 和 Exit，继续查找...")
        }
        (Serving { listen }, Lang::En) => {
            format!("Listening on {listen}, but no relay with a usable exit yet; still looking...")
        }
        (Ready { listen }, Lang::Zh) => format!("就绪! 监听 {listen}"),
        (Ready { listen }, Lang::En) => format!("Ready! Listening on {listen}"),
        (NoRelays, Lang::Zh) => "未发现 Relay 节点，继续查找...".into(),
        (NoRelays, Lang::En) => "No relays found yet, still looking...".into(),
        (NoExit, Lang::Zh) => "暂无可用的 Exit 节点，继续查找...".into(),
        (NoExit, Lang::En) => "No exit available yet, still looking...".into(),
    }
}

fn short(hash: &str) -> &str {
    hash.get(..6).unwrap_or(hash)
}

/// Writes each step as a line to a writer (stdout for the CLI).
pub struct LineProgress {
    lang: Lang,
    out: Mutex<Box<dyn Write + Send>>,
}

impl std::fmt::Debug for LineProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LineProgress")
            .field("lang", &self.lang)
            .finish()
    }
}

impl LineProgress {
    /// Progress on stdout in the locale's language.
    pub fn stdout() -> Self {
        LineProgress::new(Lang::from_env(), Box::new(std::io::stdout()))
    }

    /// Progress on any writer.
    pub fn new(lang: Lang, out: Box<dyn Write + Send>) -> Self {
        LineProgress {
            lang,
            out: Mutex::new(out),
        }
    }
}

impl Progress for LineProgress {
    fn step(&self, step: Step) {
        let line = render(&step, self.lang);
        if let Ok(mut out) = self.out.lock() {
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        }
    }
}

/// Logs every step (in English) through `tracing`, for daemons whose stdout is not a console.
#[derive(Debug, Default)]
pub struct LogProgress;

impl Progress for LogProgress {
    fn step(&self, step: Step) {
        tracing::info!("{}", render(&step, Lang::En).trim_start());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chinese_lines_match_the_design() {
        let zh = |s: Step| render(&s, Lang::Zh);
        assert_eq!(zh(Step::ConnectingDht), "正在连接 DHT 网络...");
        assert_eq!(
            zh(Step::ConnectedBootstrap { nodes: 2 }),
            "已连接到 2 个引导节点"
        );
        assert_eq!(zh(Step::DiscoveringRelays), "正在发现 Relay 节点...");
        assert_eq!(
            zh(Step::RelaysFound { count: 3 }),
            "发现 3 个 Relay 节点，正在测量延迟..."
        );
        let probed = Step::RelayProbed {
            name: "relay-tokyo".into(),
            latency: Some(Duration::from_millis(23)),
            selected: true,
        };
        assert_eq!(zh(probed), "  relay-tokyo: 23ms [selected]");
        assert_eq!(
            zh(Step::RelaySelected {
                latency: Duration::from_millis(23)
            }),
            "已选择最佳 Relay (23ms)"
        );
        assert_eq!(zh(Step::FetchingExitKeys), "正在获取 Exit 公钥...");
        assert_eq!(
            zh(Step::ExitKeyFetched {
                hash: "abc123def".into()
            }),
            "已获取 Exit 公钥 (Hash: abc123...)"
        );
        assert_eq!(
            zh(Step::Ready {
                listen: "127.0.0.1:8080".into()
            }),
            "就绪! 监听 127.0.0.1:8080"
        );
    }

    #[test]
    fn locale_detection() {
        assert_eq!(Lang::from_locale("zh_CN.UTF-8"), Lang::Zh);
        assert_eq!(Lang::from_locale("zh_TW"), Lang::Zh);
        assert_eq!(Lang::from_locale("en_US.UTF-8"), Lang::En);
        assert_eq!(Lang::from_locale(""), Lang::En);
        assert_eq!(
            render(&Step::Ready { listen: "x".into() }, Lang::En),
            "Ready! Listening on x"
        );
    }
}
