# W3: time lme4's REML fit of the random-intercept group x time model on one CSV.
# Usage: Rscript lme4_fit.R data.csv REPEAT  -> prints "elapsed <s> <s> ..." and the estimates.
args <- commandArgs(trailingOnly = TRUE)
suppressMessages(library(lme4))
d <- read.csv(args[1], colClasses = c(participant = "character", group = "character",
                                      timepoint = "character"))
d$group <- factor(d$group, levels = c("control", "balint"))
d$timepoint <- factor(d$timepoint, levels = c("pre", "post", "followup"))
repeat_n <- as.integer(args[2])
times <- numeric(repeat_n)
for (i in seq_len(repeat_n)) {
  times[i] <- system.time(
    fit <- lmer(score ~ group * timepoint + (1 | participant), data = d, REML = TRUE)
  )[["elapsed"]]
}
cat("elapsed", format(times, digits = 6), "\n")
fe <- fixef(fit)
cat("fixef", format(unname(fe), digits = 12), "\n")
cat("vc", format(c(as.data.frame(VarCorr(fit))$vcov), digits = 12), "\n")
