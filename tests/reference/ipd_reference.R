# Reference numbers for balint_analysis.programme.ipd (one-stage pooled model) from lme4/lmerTest.
#
# Run from the repository root after `.venv/bin/python tests/reference/ipd_make_datasets.py`:
#
#     Rscript tests/reference/ipd_reference.R
#
# Reads tests/reference/ipd_<case>_scores.csv and ipd_<case>_participants.csv and fits, per
# outcome (and, for the boundary case, on standardised scores too),
#
#   score ~ group * timepoint + (1 | participant) + (1 | site) + (0 + treated_post | site)
#           + (0 + treated_post | cluster)
#
# participants keyed site|cohort|pseudonym, Balint groups site:group, everyone without a group
# a singleton cluster; treated_post = intervention arm after baseline. Writes
#   ipd_fixef.csv    case, instrument, scale, pooling, term, estimate, se, df, p  (lmerTest summary)
#   ipd_varcomp.csv  case, instrument, scale, pooling, component, variance, reml_crit, singular
#   ipd_info.json    software versions and optimizer settings
# The test suite reads these committed files; it never runs R.

suppressPackageStartupMessages({
  library(lmerTest)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", grep("^--file=", args, value = TRUE))
here <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

timepoints <- c("pre", "post", "followup")
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5)
)
formula <- score ~ group * timepoint + (1 | participant) + (1 | site) +
  (0 + treated_post | site) + (0 + treated_post | cluster)

read_case <- function(case) {
  s <- read.csv(file.path(here, paste0("ipd_", case, "_scores.csv")),
                na.strings = c("", "NA"), stringsAsFactors = FALSE)
  p <- read.csv(file.path(here, paste0("ipd_", case, "_participants.csv")),
                na.strings = c("", "NA"), stringsAsFactors = FALSE)
  s <- s[!is.na(s$score), ]
  d <- merge(s, p[, c("cohort", "participant", "cluster")], by = c("cohort", "participant"),
             sort = FALSE)
  d$site <- as.character(d$site)
  d$participant <- paste(d$site, d$cohort, d$participant, sep = "|")
  d$cluster <- ifelse(is.na(d$cluster) | d$group != "balint", paste0("solo:", d$participant),
                      paste(d$site, d$cluster, sep = ":"))
  d$group <- factor(d$group, levels = c("control", "balint"))
  d$timepoint <- factor(d$timepoint, levels = timepoints)
  d$treated_post <- as.numeric(d$group == "balint" & d$timepoint != "pre")
  d
}

# Each cohort's scores divided by its baseline SD pooled within arms.
standardise <- function(d) {
  for (co in unique(d$cohort)) {
    b <- d[d$cohort == co & d$timepoint == "pre", ]
    parts <- lapply(split(b$score, b$group, drop = TRUE), function(x) c(length(x), var(x)))
    ss <- sum(sapply(parts, function(v) (v[1] - 1) * v[2]))
    df <- sum(sapply(parts, function(v) v[1] - 1))
    d$score[d$cohort == co] <- d$score[d$cohort == co] / sqrt(ss / df)
  }
  d
}

fixef_rows <- list()
vc_rows <- list()
for (case in c("sites", "boundary")) {
  d_all <- read_case(case)
  for (scale in unique(d_all$scale)) {
    for (pooling in c("same instrument", "standardised")) {
      if (pooling == "standardised" && case != "boundary") next
      d <- d_all[d_all$scale == scale, ]
      if (pooling == "standardised") d <- standardise(d)
      m <- lmer(formula, data = d, REML = TRUE, control = ctrl)
      co <- summary(m, ddf = "Satterthwaite")$coefficients
      fixef_rows[[length(fixef_rows) + 1]] <- data.frame(
        case = case, instrument = d$instrument[1], scale = scale, pooling = pooling,
        term = rownames(co), estimate = co[, "Estimate"], se = co[, "Std. Error"],
        df = co[, "df"], p = co[, "Pr(>|t|)"])
      vc <- as.data.frame(VarCorr(m))
      vc_rows[[length(vc_rows) + 1]] <- data.frame(
        case = case, instrument = d$instrument[1], scale = scale, pooling = pooling,
        component = ifelse(is.na(vc$var1), "residual", paste(vc$grp, vc$var1)),
        variance = vc$vcov, reml_crit = unname(REMLcrit(m)), singular = isSingular(m))
    }
  }
}
fmt <- function(x) { x[] <- lapply(x, function(v) if (is.numeric(v)) signif(v, 12) else v); x }
write.csv(fmt(do.call(rbind, fixef_rows)), file.path(here, "ipd_fixef.csv"), row.names = FALSE)
write.csv(fmt(do.call(rbind, vc_rows)), file.path(here, "ipd_varcomp.csv"), row.names = FALSE)
info <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
             lmerTest = as.character(packageVersion("lmerTest")),
             optimizer = "nloptwrap", optCtrl = ctrl$optCtrl, formula = paste(deparse(formula), collapse = " "))
write_json(info, file.path(here, "ipd_info.json"), auto_unbox = TRUE, pretty = TRUE, digits = NA)
