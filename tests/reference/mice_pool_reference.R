# Reference numbers for issue 16 (multiple imputation): Rubin's rules with Barnard-Rubin df as
# R's mice::pool() computes them, on completed datasets written next to this script.
#
#   Rscript tests/reference/mice_pool_reference.R      (from the repository root)
#
# Writes tests/reference/mice_completed.csv   (M = 10 completed long datasets of a small cohort)
#        tests/reference/mice_per_imputation.csv (per imputation: estimate, variance, df)
#        tests/reference/mice_pool_reference.csv (pooled: estimate, se, df, CI, p, fmi, riv)
# tests/test_missing_pooling.py pools the per-imputation numbers with our rubin_pool and
# compares with the pooled rows (relative 1e-8). R is never needed to run the tests.
#
# Two analyses per completed dataset:
#  * "lm": lm(post ~ arm + pre) on the wide data, pooled by mice::pool(as.mira(fits)) with its
#    own complete-data df (df.residual = n - 3);
#  * "lmer": lmerTest::lmer(score ~ arm * time + (1 | id)), the arm x followup interaction with
#    its Satterthwaite df, pooled by mice::pool.scalar(Q, U, n = dfcom + 1, k = 1), i.e. with
#    dfcom = median Satterthwaite df over the imputations (our choice of nu_com).
suppressPackageStartupMessages({
  library(mice)
  library(lme4)
  library(lmerTest)
})
out_dir <- "tests/reference"
set.seed(20261201)
n <- 40
arm <- rep(c("control", "balint"), each = n / 2)
b <- rnorm(n, 0, 6)
pre <- 25 + b + rnorm(n, 0, 4)
post <- 24 + b - 3 * (arm == "balint") + rnorm(n, 0, 4)
followup <- 24 + b - 4 * (arm == "balint") + rnorm(n, 0, 4)
# MAR drop-out: higher baseline scores leave more often; follow-up missing after a missing post.
p_drop <- plogis(-1.2 + 0.15 * (pre - 25))
post[runif(n) < p_drop] <- NA
followup[is.na(post) | runif(n) < 0.15] <- NA
wide <- data.frame(id = sprintf("p%02d", seq_len(n)), arm = factor(arm, c("control", "balint")),
                   pre = pre, post = post, followup = followup)
imp <- mice(wide[, -1], m = 10, method = "norm", seed = 7, printFlag = FALSE)

completed <- do.call(rbind, lapply(seq_len(imp$m), function(m) {
  w <- cbind(id = wide$id, complete(imp, m))
  long <- reshape(w, direction = "long", varying = c("pre", "post", "followup"),
                  v.names = "score", timevar = "time", times = c("pre", "post", "followup"),
                  idvar = "id")
  long$imputation <- m
  long[order(long$id, match(long$time, c("pre", "post", "followup"))),
       c("imputation", "id", "arm", "time", "score")]
}))
write.csv(completed, file.path(out_dir, "mice_completed.csv"), row.names = FALSE)

per <- list()
res <- list()
# lm: mice's own pool() with df.residual as the complete-data df.
lm_fits <- lapply(seq_len(imp$m), function(m) {
  lm(post ~ arm + pre, data = complete(imp, m))
})
for (m in seq_along(lm_fits)) {
  cf <- summary(lm_fits[[m]])$coefficients
  per[[length(per) + 1]] <- data.frame(analysis = "lm", term = "armbalint", imputation = m,
    estimate = cf["armbalint", "Estimate"], variance = cf["armbalint", "Std. Error"]^2,
    df_complete = df.residual(lm_fits[[m]]))
}
pooled <- summary(pool(as.mira(lm_fits)), conf.int = TRUE)
pp <- pool(as.mira(lm_fits))$pooled
row <- pooled$term == "armbalint"
res[[1]] <- data.frame(analysis = "lm", term = "armbalint", estimate = pooled$estimate[row],
  se = pooled$std.error[row], df = pooled$df[row], ci_low = pooled$`2.5 %`[row],
  ci_high = pooled$`97.5 %`[row], p_value = pooled$p.value[row],
  fmi = pp$fmi[pp$term == "armbalint"], riv = pp$riv[pp$term == "armbalint"],
  df_complete = df.residual(lm_fits[[1]]))

# lmer + Satterthwaite: pool.scalar with dfcom = median Satterthwaite df.
q <- u <- d <- numeric(imp$m)
for (m in seq_len(imp$m)) {
  dat <- completed[completed$imputation == m, ]
  dat$time <- factor(dat$time, c("pre", "post", "followup"))
  dat$arm <- factor(dat$arm, c("control", "balint"))
  fit <- lmerTest::lmer(score ~ arm * time + (1 | id), data = dat, REML = TRUE)
  cf <- summary(fit)$coefficients
  q[m] <- cf["armbalint:timefollowup", "Estimate"]
  u[m] <- cf["armbalint:timefollowup", "Std. Error"]^2
  d[m] <- cf["armbalint:timefollowup", "df"]
  per[[length(per) + 1]] <- data.frame(analysis = "lmer", term = "armbalint:timefollowup",
    imputation = m, estimate = q[m], variance = u[m], df_complete = d[m])
}
dfcom <- median(d)
ps <- pool.scalar(q, u, n = dfcom + 1, k = 1)
tq <- qt(0.975, ps$df)
res[[2]] <- data.frame(analysis = "lmer", term = "armbalint:timefollowup", estimate = ps$qbar,
  se = sqrt(ps$t), df = ps$df, ci_low = ps$qbar - tq * sqrt(ps$t),
  ci_high = ps$qbar + tq * sqrt(ps$t), p_value = 2 * pt(-abs(ps$qbar) / sqrt(ps$t), ps$df),
  fmi = ps$fmi, riv = ps$r, df_complete = dfcom)

write.csv(do.call(rbind, per), file.path(out_dir, "mice_per_imputation.csv"), row.names = FALSE)
ref <- do.call(rbind, res)
ref$mice_version <- as.character(packageVersion("mice"))
write.csv(ref, file.path(out_dir, "mice_pool_reference.csv"), row.names = FALSE)
print(ref)
