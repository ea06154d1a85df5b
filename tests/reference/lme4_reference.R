# Reference numbers for balint_analysis.models from R lme4 / lmerTest / emmeans.
#
# Run from the repository root after `python tests/reference/make_datasets.py`:
#
#     Rscript tests/reference/lme4_reference.R
#
# Reads tests/reference/<dataset>_scores.csv and <dataset>_participants.csv and writes
#   lme4_fixef.csv    case, instrument, scale, term, estimate, se, df, t, p   (summary(), Satterthwaite)
#   lme4_emmeans.csv  case, instrument, scale, group, timepoint, emmean, se, df, lower, upper
#                     (emmeans(m, ~ group * timepoint, lmer.df = "satterthwaite",
#                     weights = "proportional", cov.reduce = mean, cov.keep = character(0)):
#                     the workflow's reference grid, numeric covariates (a 0/1 one too) at
#                     their mean, factors averaged in their observed proportions)
#   lme4_varcomp.csv  case, instrument, scale, component, variance, reml_crit, singular
#   lme4_ml.csv       case, instrument, scale, loglik, aic, bic, npar   (ML refit: update(m, REML = FALSE))
#   sensitivity_reference.csv
#                     case, instrument, scale, timepoint, analysis, estimate, se, df, p
#                     ancova (lm(post ~ pre + group + covariates)), complete_case_lmm (lmer on
#                     participants observed at every timepoint), lmm_without_cluster (lmer with
#                     (1 | participant) only), lmm_residual_by_arm (nlme lme + varIdent(~1 | group);
#                     df: lmerTest's Satterthwaite recipe with numDeriv on the nlme estimates,
#                     satt_het below; emmeans' mode = "appx-satterthwaite" is approximate and
#                     not reproducible run to run, so it is not used)
#   nlme_varcomp.csv  case, instrument, scale, component, variance, reml_loglik, ml_loglik, ml_aic
#   dose_reference.csv case, instrument, scale, timepoint, n, slope, se, df, p
#                     (lm(change ~ sessions + pre), intervention participants)
#   lme4_info.json    software versions and optimizer settings
# The test suite reads these committed files; it never runs R.

suppressPackageStartupMessages({
  library(nlme)
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
  roster <- intersect(c("participant", "cluster", "sessions", "age", "years_in_practice",
                        "gender", "night_shifts", "arm_code"), names(p))
  d <- merge(s, p[, roster], by = "participant", sort = FALSE)
  # Treatment coding with the first declared level as reference (analysis.covariate_levels).
  if ("gender" %in% names(d)) d$gender <- factor(d$gender, levels = c("female", "male", "diverse"))
  d$timepoint <- droplevels(factor(d$timepoint, levels = timepoints))
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
  list("singlearm_plain", "singlearm", "timepoint", "(1 | participant)", TRUE, character()),
  list("twotime_plain", "twotime", "group * timepoint + age + years_in_practice",
       "(1 | participant)", FALSE, c("age", "years_in_practice")),
  list("twotime_pn", "twotime", "group * timepoint + age + years_in_practice",
       "(1 | participant) + (0 + treated_post | cluster)", FALSE, c("age", "years_in_practice")),
  # A binary 0/1 covariate (kept numeric: at its mean in the EMMs), a 3-level factor
  # (averaged in its observed proportions), both with the Balint-group term, and a
  # covariate aliased with group (lme4 drops it).
  list("categorical_binary_plain", "categorical", "group * timepoint + age + night_shifts",
       "(1 | participant)", FALSE, c("age", "night_shifts")),
  list("categorical_factor_plain", "categorical", "group * timepoint + age + gender",
       "(1 | participant)", FALSE, c("age", "gender")),
  list("categorical_pn", "categorical", "group * timepoint + age + gender + night_shifts",
       "(1 | participant) + (0 + treated_post | cluster)", FALSE,
       c("age", "gender", "night_shifts")),
  list("categorical_aliased_plain", "categorical", "group * timepoint + arm_code",
       "(1 | participant)", FALSE, c("arm_code"))
)
# Cases whose heteroscedastic (residual variance by arm) nlme fit is a reference; the boundary
# case and singular fits are left out (nlme's approximate variance-covariance of a ~0
# variance is not usable by emmeans).
hetero_cases <- c("twoarm_plain", "nested_pn", "covariates_pn", "twotime_pn")
nlme_ctrl <- lmeControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12,
                        niterEM = 100, opt = "nlminb", returnObject = TRUE)
# Exact-recipe Satterthwaite df for the nlme fit. emmeans' "appx-satterthwaite" for lme is too
# rough for a 1% check and not reproducible run to run (on the homoscedastic covariates_pn
# model it gives 10.0 and 11.4 where lmerTest gives 9.70 and 11.01); this function, with
# het = FALSE, reproduces lmerTest's df to ~2e-6 on that model.
satt_het <- function(d, fixed, phi, terms, cluster, het = TRUE) {
  # lmerTest's Satterthwaite recipe (numDeriv, REML deviance in the variances) applied to
  # V(phi) = phi_p Zp Zp' [+ phi_c Zc Zc'] + diag(residual variance of the arm).
  X <- model.matrix(as.formula(paste("~", fixed)), d)
  Zp <- model.matrix(~ 0 + factor(participant), d)
  Zc <- if (cluster) model.matrix(~ 0 + factor(cluster), d) * d$treated_post else NULL
  ctl <- as.numeric(d$group == "control")
  y <- d$score
  V_of <- function(ph) {
    V <- ph[1] * tcrossprod(Zp)
    if (cluster) V <- V + ph[2] * tcrossprod(Zc)
    k <- length(ph)
    if (!het) return(V + diag(ph[k], nrow(V)))
    V + diag(ph[k - 1] * ctl + ph[k] * (1 - ctl))
  }
  C_of <- function(ph) solve(crossprod(X, solve(V_of(ph), X)))
  dev <- function(ph) {
    V <- V_of(ph); Vi <- solve(V); M <- crossprod(X, Vi %*% X)
    b <- solve(M, crossprod(X, Vi %*% y)); r <- y - X %*% b
    as.numeric(determinant(V)$modulus + determinant(M)$modulus + crossprod(r, Vi %*% r))
  }
  A <- 2 * solve(numDeriv::hessian(dev, phi))
  sapply(terms, function(term) {
    L <- as.numeric(colnames(X) == term)
    v <- function(ph) as.numeric(t(L) %*% C_of(ph) %*% L)
    g <- numDeriv::grad(v, phi)
    2 * v(phi)^2 / as.numeric(t(g) %*% A %*% g)
  })
}


fixef_rows <- list()
emm_rows <- list()
vc_rows <- list()
ml_rows <- list()
sens_rows <- list()
nlme_vc_rows <- list()
dose_rows <- list()
add <- function(lst, x) c(lst, list(x))
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
    emm <- as.data.frame(summary(emmeans(m, spec, lmer.df = "satterthwaite",
                                         weights = "proportional", cov.reduce = mean,
                                         cov.keep = character(0))))
    if (cs$single) emm$group <- "balint"
    emm_rows[[length(emm_rows) + 1]] <- cbind(key, data.frame(
      group = as.character(emm$group), timepoint = as.character(emm$timepoint),
      emmean = emm$emmean, se = emm$SE, df = emm$df,
      # Named asymp.LCL/UCL when no mean is estimable (the aliased case: all NA).
      lower = emm[[attr(emm, "clNames")[1]]], upper = emm[[attr(emm, "clNames")[2]]]))
    vc <- as.data.frame(VarCorr(m))
    vc_rows[[length(vc_rows) + 1]] <- cbind(key, data.frame(
      component = ifelse(vc$grp == "Residual", "residual", vc$grp), variance = vc$vcov,
      reml_crit = REMLcrit(m), singular = isSingular(m)))
    m_ml <- update(m, REML = FALSE)
    ml_rows <- add(ml_rows, cbind(key, data.frame(
      loglik = as.numeric(logLik(m_ml)), aic = AIC(m_ml), bic = BIC(m_ml),
      npar = attr(logLik(m_ml), "df"))))
    if (cs$single) next
    post_levels <- setdiff(levels(d$timepoint), "pre")
    sens <- function(analysis, rows) cbind(key, rows, analysis = analysis)
    # ANCOVA per post-baseline timepoint: wide data, participants observed at pre and t.
    per_person <- unique(d[, c("participant", "group", "sessions", cs$covariates), drop = FALSE])
    for (tp in post_levels) {
      w <- merge(setNames(d[d$timepoint == "pre", c("participant", "score")], c("participant", "pre")),
                 setNames(d[d$timepoint == tp, c("participant", "score")], c("participant", "post")),
                 by = "participant")
      w <- merge(w, per_person, by = "participant")
      fa <- as.formula(paste("post ~ pre + group", paste(c("", cs$covariates), collapse = " + ")))
      co <- coef(summary(lm(fa, data = w)))["groupbalint", ]
      sens_rows <- add(sens_rows, sens("ancova", data.frame(
        timepoint = tp, estimate = co[["Estimate"]], se = co[["Std. Error"]],
        df = df.residual(lm(fa, data = w)), p = co[["Pr(>|t|)"]])))
      if (cs$case %in% c("twoarm_plain", "nested_pn", "covariates_pn", "twotime_pn")) {
        wb <- w[w$group == "balint" & !is.na(w$sessions), ]
        fd <- lm(I(post - pre) ~ sessions + pre, data = wb)
        cd <- coef(summary(fd))["sessions", ]
        dose_rows <- add(dose_rows, cbind(key, data.frame(
          timepoint = tp, n = nrow(wb), slope = cd[["Estimate"]], se = cd[["Std. Error"]],
          df = df.residual(fd), p = cd[["Pr(>|t|)"]])))
      }
    }
    term_rows <- function(model) {
      co <- coef(summary(model))
      rn <- paste0("groupbalint:timepoint", post_levels)
      data.frame(timepoint = post_levels, estimate = co[rn, "Estimate"],
                 se = co[rn, "Std. Error"], df = co[rn, "df"], p = co[rn, "Pr(>|t|)"])
    }
    n_tp <- tapply(d$timepoint, d$participant, function(x) length(unique(x)))
    cc <- d[d$participant %in% names(n_tp)[n_tp == nlevels(d$timepoint)], ]
    sens_rows <- add(sens_rows, sens("complete_case_lmm",
      term_rows(lmer(f, data = cc, REML = TRUE, control = ctrl))))
    f_plain <- as.formula(paste("score ~", cs$fixed, "+ (1 | participant)"))
    sens_rows <- add(sens_rows, sens("lmm_without_cluster",
      term_rows(lmer(f_plain, data = d, REML = TRUE, control = ctrl))))
    if (cs$case %in% hetero_cases && !isSingular(m)) {
      random <- if (grepl("cluster", cs$random)) {
        list(cluster = pdIdent(~ 0 + treated_post), participant = ~ 1)
      } else {
        list(participant = ~ 1)
      }
      h <- lme(as.formula(paste("score ~", cs$fixed)), random = random,
               weights = varIdent(form = ~ 1 | group), data = d, method = "REML",
               control = nlme_ctrl)
      tt <- summary(h)$tTable
      ratio <- coef(h$modelStruct$varStruct, unconstrained = FALSE)  # control SD / balint SD
      re_var <- function(name) h$sigma^2 * as.matrix(h$modelStruct$reStruct[[name]])[1, 1]
      comp <- c(participant = re_var("participant"), residual_balint = h$sigma^2,
                residual_control = (h$sigma * ratio[[1]])^2)
      clustered <- grepl("cluster", cs$random)
      if (clustered) comp <- c(comp, cluster = re_var("cluster"))
      phi <- c(comp[["participant"]], if (clustered) comp[["cluster"]],
               comp[["residual_control"]], comp[["residual_balint"]])
      rn <- paste0("groupbalint:timepoint", post_levels)
      df_h <- satt_het(d, cs$fixed, phi, rn, clustered)
      sens_rows <- add(sens_rows, sens("lmm_residual_by_arm", data.frame(
        timepoint = post_levels, estimate = tt[rn, "Value"], se = tt[rn, "Std.Error"],
        df = unname(df_h), p = 2 * pt(-abs(tt[rn, "t-value"]), unname(df_h)))))
      fixef_rows <- add(fixef_rows, cbind(data.frame(case = paste0(cs$case, "_hetero"),
        instrument = key$instrument, scale = key$scale), data.frame(
        term = rownames(tt), estimate = tt[, "Value"], se = tt[, "Std.Error"], df = NA,
        t = tt[, "t-value"], p = NA)))
      h_ml <- update(h, method = "ML")
      nlme_vc_rows <- add(nlme_vc_rows, cbind(key, data.frame(
        case_hetero = paste0(cs$case, "_hetero"), component = names(comp),
        variance = unname(comp), reml_loglik = as.numeric(logLik(h)),
        ml_loglik = as.numeric(logLik(h_ml)), ml_aic = AIC(h_ml))))
    }
  }
}

out <- function(rows, name) {
  write.csv(do.call(rbind, rows), file.path(here, name), row.names = FALSE)
}
out(fixef_rows, "lme4_fixef.csv")
out(emm_rows, "lme4_emmeans.csv")
out(vc_rows, "lme4_varcomp.csv")
out(ml_rows, "lme4_ml.csv")
out(sens_rows, "sensitivity_reference.csv")
out(nlme_vc_rows, "nlme_varcomp.csv")
out(dose_rows, "dose_reference.csv")
info <- list(
  R = R.version.string,
  lme4 = as.character(packageVersion("lme4")),
  lmerTest = as.character(packageVersion("lmerTest")),
  emmeans = as.character(packageVersion("emmeans")),
  nlme = as.character(packageVersion("nlme")),
  nlme_control = "opt = nlminb, tolerance = 1e-10, msTol = 1e-12",
  optimizer = "nloptwrap (BOBYQA), xtol_abs = 1e-12, ftol_abs = 1e-14, xtol_rel = 1e-12",
  df = "Satterthwaite (lmerTest summary; emmeans lmer.df = 'satterthwaite')"
)
write_json(info, file.path(here, "lme4_info.json"), auto_unbox = TRUE, pretty = TRUE)

# Edge cases of issue 15 (emotional exhaustion of datasets derived from `nested` by
# make_datasets.py): what lme4 / lmerTest / emmeans do with a rank-deficient design, one Balint
# group (with and without its term) and a constant outcome. Messages, warnings and errors are
# recorded verbatim; lme4_edge_cases.csv columns:
#   case, instrument, scale, what (fixef | emmean | error), term, group, timepoint, estimate,
#   se, df, p, message
edge_rows <- list()
one_line <- function(x) paste(gsub("\\s+", " ", trimws(x)), collapse = " | ")
edge_fit <- function(case, dataset, random) {
  d <- read_case(dataset)
  d$group <- relevel(factor(d$group), ref = "control")
  msgs <- character()
  keep_msg <- function(w) msgs <<- c(msgs, conditionMessage(w))
  fit <- function() lmer(as.formula(paste("score ~ group * timepoint +", random)), data = d,
                         REML = TRUE, control = ctrl)
  m <- withCallingHandlers(
    tryCatch(fit(), error = function(e) conditionMessage(e)),
    message = function(w) { keep_msg(w); invokeRestart("muffleMessage") },
    warning = function(w) { keep_msg(w); invokeRestart("muffleWarning") })
  key <- data.frame(case = case, instrument = "mbi_hss", scale = "emotional_exhaustion")
  if (is.character(m)) {
    edge_rows <<- add(edge_rows, cbind(key, data.frame(
      what = "error", term = NA, group = NA, timepoint = NA, estimate = NA, se = NA, df = NA,
      p = NA, message = one_line(c(m, msgs)))))
    return(invisible())
  }
  co <- coef(summary(m))
  edge_rows <<- add(edge_rows, cbind(key, data.frame(
    what = "fixef", term = rownames(co), group = NA, timepoint = NA,
    estimate = co[, "Estimate"], se = co[, "Std. Error"], df = co[, "df"],
    p = co[, "Pr(>|t|)"], message = one_line(msgs))))
  emm <- as.data.frame(summary(emmeans(m, ~ group * timepoint, lmer.df = "satterthwaite",
                                       weights = "proportional", cov.reduce = mean,
                                       cov.keep = character(0))))
  edge_rows <<- add(edge_rows, cbind(key, data.frame(
    what = "emmean", term = NA, group = as.character(emm$group),
    timepoint = as.character(emm$timepoint), estimate = emm$emmean, se = emm$SE, df = emm$df,
    p = NA, message = "")))
}
edge_fit("nofollowctl_plain", "nofollowctl", "(1 | participant)")
edge_fit("onegroup_plain", "onegroup", "(1 | participant)")
edge_fit("onegroup_pn", "onegroup", "(1 | participant) + (0 + treated_post | cluster)")
edge_fit("constant_plain", "constant", "(1 | participant)")
out(edge_rows, "lme4_edge_cases.csv")
