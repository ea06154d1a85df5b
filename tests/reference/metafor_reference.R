# Reference values for balint_analysis.programme.meta_analysis (tests/test_programme_meta.py).
#
# Run from the repository root:  Rscript tests/reference/metafor_reference.R
# (metafor 3.8-1 was used; it is the Debian package r-cran-metafor). Writes:
#   metafor_cases.csv        the inputs: case, study, yi, vi
#   metafor_results.csv      rma(yi, vi, method = "REML", test = "knha") + predict(), per case
#   metafor_leave1out.csv    leave1out() of the same model for the cases "bcg" and "k10"
#
# Cases: generated ones with 2, 3, 10 and 40 cohorts (seeded), one with 3 cohorts whose
# tau^2 is on the boundary (0), one where full Fisher-scoring steps oscillate, the Morris (2008) five-study d_ppc2 example (tau^2 = 0 and a
# Knapp-Hartung factor below 1, which metafor does not truncate), and the BCG vaccine trials
# (dat.bcg from the metadat package, log risk ratios from escalc) as a published data set.
suppressPackageStartupMessages(library(metafor))
out_dir <- "tests/reference"

generate <- function(k, tau, seed, mu = -2) {
  set.seed(seed)
  n <- sample(20:150, k, replace = TRUE)        # cohort sizes
  sd <- 8
  vi <- sd^2 * 4 / n                            # variance of a difference in change, points^2
  yi <- mu + rnorm(k, 0, tau) + rnorm(k, 0, sqrt(vi))
  data.frame(yi = yi, vi = vi)
}

cases <- list(
  k2 = generate(2, 1.5, 2),
  k3 = generate(3, 1.5, 3),
  k10 = generate(10, 1.5, 10),
  k40 = generate(40, 1.0, 40),
  boundary3 = data.frame(yi = c(-2.0, -2.1, -1.9), vi = c(1.2, 0.9, 1.5)),
  oscillating = data.frame(yi = c(0, 0, 0, 0, 1), vi = c(1, 1, 1, 1, 0.125)),
  morris = data.frame(yi = c(0.7685, 0.8010, 1.2047, 1.0477, 0.4390),
                      vi = c(0.1158, 0.0354, 0.1591, 0.0762, 0.1675))
)
bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
cases$bcg <- data.frame(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi))

# When Fisher scoring oscillates (it does for "oscillating"), metafor stops with an error and its
# help recommends halved steps: the Python code retries the same way.
fit_rma <- function(d) {
  tryCatch(rma(yi, vi, data = d, method = "REML", test = "knha"),
           error = function(e) rma(yi, vi, data = d, method = "REML", test = "knha",
                                   control = list(stepadj = 0.5, maxiter = 1000)))
}

fit_row <- function(name, d) {
  fit <- fit_rma(d)
  pr <- predict(fit)
  data.frame(case = name, estimate = as.numeric(fit$beta), se = fit$se,
             ci_low = fit$ci.lb, ci_high = fit$ci.ub, p_value = fit$pval, df = fit$ddf,
             tau2 = fit$tau2, i2 = fit$I2, h2 = fit$H2, q = fit$QE, q_p = fit$QEp,
             pi_low = pr$pi.lb, pi_high = pr$pi.ub, k = fit$k, s2w = fit$s2w)
}

inputs <- do.call(rbind, lapply(names(cases), function(nm)
  data.frame(case = nm, study = sprintf("c%02d", seq_len(nrow(cases[[nm]]))), cases[[nm]])))
results <- do.call(rbind, lapply(names(cases), function(nm) fit_row(nm, cases[[nm]])))

loo <- do.call(rbind, lapply(c("bcg", "k10"), function(nm) {
  d <- cases[[nm]]
  l <- leave1out(fit_rma(d))
  data.frame(case = nm, omitted = sprintf("c%02d", seq_len(nrow(d))), estimate = l$estimate,
             se = l$se, ci_low = l$ci.lb, ci_high = l$ci.ub, p_value = l$pval, tau2 = l$tau2,
             i2 = l$I2, h2 = l$H2, q = l$Q, q_p = l$Qp)
}))

write17 <- function(x, file) {
  num <- vapply(x, is.numeric, logical(1))
  x[num] <- lapply(x[num], function(col) sprintf("%.17g", col))
  write.csv(x, file.path(out_dir, file), row.names = FALSE, quote = FALSE)
}
write17(inputs, "metafor_cases.csv")
write17(results, "metafor_results.csv")
write17(loo, "metafor_leave1out.csv")
cat("metafor", as.character(packageVersion("metafor")), "\n")
print(results[, c("case", "k", "estimate", "se", "tau2", "i2", "s2w")])
