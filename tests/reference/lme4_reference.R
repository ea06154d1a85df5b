# Reference numbers for balint_analysis.models from R lme4 / lmerTest / emmeans.
#
# Run from the repository root after `python tests/reference/make_datasets.py`:
#
#     Rscript tests/reference/lme4_reference.R
#
# Reads tests/reference/<dataset>_scores.csv and <dataset>_participants.csv and writes
#   lme4_fixef.csv    case, instrument, scale, term, estimate, se, df, t, p   (summary(), Satterthwaite)
#   lme4_emmeans.csv  case, instrument, scale, group, timepoint, emmean, se, df, lower, upper
#                     (emmeans(m, ~ group * timepoint, lmer.df = "satterthwaite"))
#   lme4_varcomp.csv  case, instrument, scale, component, variance, reml_crit, singular
#   lme4_info.json    software versions and optimizer settings
# The test suite reads these committed files; it never runs R.

suppressPackageStartupMessages({
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})

args <- commandArgs(trailingOnly = FALSE)
script <- sub("^--file=", "", grep("^--file=", args, value = TRUE))
here <- if (length(script)) dirname(normalizePath(script)) else "tests/reference"

timepoints <- c("pre", "post", "followup")
# Tight optimizer tolerances: these numbers are the yardstick, so optimise them well.
ctrl <- lmerControl(
  optimizer = "nloptwrap",
  optCtrl = list(xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12, maxeval = 1e5)
)

read_case <- function(dataset) {
  s <- read.csv(file.path(here, paste0(dataset, "_scores.csv")),
                na.strings = c("", "NA"), stringsAsFactors = FALSE)
  p <- read.csv(file.path(here, paste0(dataset, "_participants.csv")),
                na.strings = c("", "NA"), stringsAsFactors = FALSE)
  s <- s[!is.na(s$score), ]
  d <- merge(s, p[, c("participant", "cluster", "age", "years_in_practice")],
             by = "participant", sort = FALSE)
  d$timepoint <- factor(d$timepoint, levels = timepoints)
  # Partially nested coding: the Balint-group effect applies to the intervention arm's
  # post-baseline observations; everyone without a group is a singleton cluster.
  d$treated_post <- as.numeric(d$group == "balint" & d$timepoint != "pre")
  d$cluster <- ifelse(is.na(d$cluster), paste0("solo_", d$participant), d$cluster)
  d
}

# case, dataset, right-hand side (fixed part), random part, single arm?, covariates
cases <- list(
  list("twoarm_plain", "twoarm", "group * timepoint", "(1 | participant)", FALSE, character()),
  list("nested_plain", "nested", "group * timepoint", "(1 | participant)", FALSE, character()),
  list("nested_pn", "nested", "group * timepoint",
       "(1 | participant) + (0 + treated_post | cluster)", FALSE, character()),
  list("covariates_plain", "covariates", "group * timepoint + age + years_in_practice",
       "(1 | participant)", FALSE, c("age", "years_in_practice")),
  list("covariates_pn", "covariates", "group * timepoint + age + years_in_practice",
       "(1 | participant) + (0 + treated_post | cluster)", FALSE, c("age", "years_in_practice")),
  list("boundary_plain", "boundary", "group * timepoint", "(1 | participant)", FALSE, character()),
  list("boundary_pn", "boundary", "group * timepoint",
       "(1 | participant) + (0 + treated_post | cluster)", FALSE, character()),
  list("singlearm_plain", "singlearm", "timepoint", "(1 | participant)", TRUE, character())
)

fixef_rows <- list()
emm_rows <- list()
vc_rows <- list()
for (cs in cases) {
  names(cs) <- c("case", "dataset", "fixed", "random", "single", "covariates")
  data_all <- read_case(cs$dataset)
  outcomes <- unique(data_all[, c("instrument", "scale")])
  for (k in seq_len(nrow(outcomes))) {
    d <- data_all[data_all$instrument == outcomes$instrument[k] &
                  data_all$scale == outcomes$scale[k], ]
    if (length(cs$covariates)) d <- d[complete.cases(d[, cs$covariates]), ]
    if (!cs$single) d$group <- relevel(factor(d$group), ref = "control")
    f <- as.formula(paste("score ~", cs$fixed, "+", cs$random))
    m <- lmer(f, data = d, REML = TRUE, control = ctrl)
    key <- data.frame(case = cs$case, instrument = outcomes$instrument[k],
                      scale = outcomes$scale[k])
    co <- coef(summary(m))
    fixef_rows[[length(fixef_rows) + 1]] <- cbind(key, data.frame(
      term = rownames(co), estimate = co[, "Estimate"], se = co[, "Std. Error"],
      df = co[, "df"], t = co[, "t value"], p = co[, "Pr(>|t|)"]))
    spec <- if (cs$single) ~ timepoint else ~ group * timepoint
    emm <- as.data.frame(summary(emmeans(m, spec, lmer.df = "satterthwaite")))
    if (cs$single) emm$group <- "balint"
    emm_rows[[length(emm_rows) + 1]] <- cbind(key, data.frame(
      group = as.character(emm$group), timepoint = as.character(emm$timepoint),
      emmean = emm$emmean, se = emm$SE, df = emm$df, lower = emm$lower.CL,
      upper = emm$upper.CL))
    vc <- as.data.frame(VarCorr(m))
    vc_rows[[length(vc_rows) + 1]] <- cbind(key, data.frame(
      component = ifelse(vc$grp == "Residual", "residual", vc$grp), variance = vc$vcov,
      reml_crit = REMLcrit(m), singular = isSingular(m)))
  }
}

out <- function(rows, name) {
  write.csv(do.call(rbind, rows), file.path(here, name), row.names = FALSE)
}
out(fixef_rows, "lme4_fixef.csv")
out(emm_rows, "lme4_emmeans.csv")
out(vc_rows, "lme4_varcomp.csv")
info <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  emmeans = as.character(packageVersion("emmeans")),
  optimizer = "nloptwrap (BOBYQA), xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12",
  df = "Satterthwaite (lmerTest summary; emmeans lmer.df = 'satterthwaite')"
)
write_json(info, file.path(here, "lme4_info.json"), auto_unbox = TRUE, pretty = TRUE)
