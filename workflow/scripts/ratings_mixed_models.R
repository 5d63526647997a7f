# Rater-level mixed models of safety ratings, as Saakyan, Rastogi & Aroyo (2026) fit them:
# does a rater's cultural zone explain their safety judgements beyond demographics?
#
# Why R and lme4: lme4 is the field's reference implementation of crossed random-effects
# models (the paper's), and a reader checking our numbers will refit with it. The Python
# side (culturalign.analysis.ratings.mixed_models) writes the input TSV and reads the three
# output TSVs; nothing else crosses the language boundary (no arrow, no RDS).
#
# Models, per dataset and per family, all with crossed random intercepts for rater and item
# and fitted by MAXIMUM LIKELIHOOD (REML likelihoods of models with different fixed effects
# are not comparable, so likelihood-ratio tests need ML):
#   base   unsafe ~ 1                              + (1 | rater_id) + (1 | item_id)
#   D      unsafe ~ <demographics>                 + ...
#   CZ     unsafe ~ <zone>                         + ...
#   D+CZ   unsafe ~ <demographics> + <zone>        + ...
#   DxCZ   unsafe ~ <demographics> + <zone> + <zone>:<interaction_with> + ...
# family "gaussian": lmer(REML = FALSE), the paper's linear probability models;
# family "binomial": glmer(family = binomial) (Laplace), since the outcome is binary, with
# the bobyqa optimizer in both phases (params glmer_optimizer): lme4's default second phase,
# Nelder-Mead, often stops at its evaluation limit once there are a dozen fixed effects (on
# simulated 120 x 40 data it failed to converge for D+CZ in 24 s where bobyqa converged in
# 8 s to the same logLik), the remedy lme4's own ?convergence page suggests.
# Likelihood-ratio tests D vs base, CZ vs base, D+CZ vs D, DxCZ vs D+CZ:
#   chi2 = 2 (logLik_big - logLik_small), df = df_big - df_small, p = P(chi2_df > chi2),
# which is what anova() reports for ML fits. Every demographic and the zone are categorical
# (treatment contrasts, reference = first level in C-locale order, R's default for a user's
# own fit), whatever their values look like: a coded ethnicity "1".."5" is not a number.
#
# Convergence is never silent: lme4's warnings and messages, its convergence check
# (@optinfo$conv$lme4$messages), a non-zero optimizer code and singular fits (a variance
# estimated at zero) make `converged` FALSE and go into `convergence_message`; a fit that
# errors is a row with status "failed" and the error. Informational messages (e.g. a
# rank-deficient design whose columns lme4 drops) go into `notes`.
#
# Interface (Snakemake `script:`; the S4 object `snakemake`):
#   input:  ratings        TSV: dataset, item_id, rater_id, unsafe (0/1, empty = dropped),
#                          the zone column, the demographic columns (rater-level, constant
#                          per rater within a dataset)
#   params: demographics     character vector (default gender, ethnicity, age_group); a
#                            column absent or with a single value in a dataset is left out
#                            of D for that dataset, with a note in the log
#           zone_column      default "zone"
#           interaction_with default "ethnicity" (must be one of the demographics kept)
#           families         default c("gaussian", "binomial")
#           models           default all five; a subset fits fewer (e.g. the level bench)
#           glmer_optimizer  default "bobyqa" (any lme4 optimizer name)
#   output: models, comparisons, fixed_effects  (TSV; columns listed at the writers below)
#   log:    [[1]] the run's log (also echoed to stderr)
#
# Standalone (tests, a reader's own check): `Rscript ratings_mixed_models.R spec.json` with
# spec.json = {"input": {"ratings": ...}, "output": {"models": ..., "comparisons": ...,
# "fixed_effects": ...}, "params": {...}, "log": ["..."]}; or define an S4 `snakemake` with
# slots input/output/params/log (lists) and source() this file.

suppressPackageStartupMessages({
  library(methods)
  library(lme4)
})

MODELS <- c("base", "D", "CZ", "D+CZ", "DxCZ")
# (bigger model, smaller model): each pair is nested
COMPARISONS <- list(
  c("D", "base"), c("CZ", "base"), c("D+CZ", "D"), c("DxCZ", "D+CZ")
)
FAMILIES <- c("gaussian", "binomial")
DEFAULT_DEMOGRAPHICS <- c("gender", "ethnicity", "age_group")
RESERVED <- c("dataset", "item_id", "rater_id", "unsafe")
Z95 <- qnorm(0.975)

# ---------------------------------------------------------------------------------------
# The snakemake object: Snakemake's own, or one built from a JSON spec on the command line.

if (!exists("snakemake")) {
  args <- commandArgs(trailingOnly = TRUE)
  if (length(args) != 1) {
    stop(
      "ratings_mixed_models.R: run by Snakemake (script:), or standalone as ",
      "`Rscript ratings_mixed_models.R spec.json` (a file or a JSON string with keys ",
      "input, output, params, log); got ", length(args), " arguments"
    )
  }
  spec_text <- if (file.exists(args[[1]])) {
    paste(readLines(args[[1]], warn = FALSE, encoding = "UTF-8"), collapse = "\n")
  } else {
    args[[1]]
  }
  spec <- jsonlite::fromJSON(spec_text, simplifyVector = TRUE)
  setClass(
    "CulturalignSnakemakeShim",
    representation(input = "list", output = "list", params = "list", log = "list")
  )
  snakemake <- new(
    "CulturalignSnakemakeShim",
    input = as.list(spec$input), output = as.list(spec$output),
    params = as.list(spec$params), log = as.list(spec$log)
  )
}

inp <- function(name) snakemake@input[[name]]
out <- function(name) snakemake@output[[name]]
param <- function(name, default) {
  value <- snakemake@params[[name]]
  if (is.null(value) || length(value) == 0) default else unlist(value, use.names = FALSE)
}

# ---------------------------------------------------------------------------------------
# Logging: to the rule's log and to stderr.

LOG_PATH <- if (length(snakemake@log) > 0) snakemake@log[[1]] else NULL
if (!is.null(LOG_PATH)) {
  dir.create(dirname(LOG_PATH), recursive = TRUE, showWarnings = FALSE)
  cat("", file = LOG_PATH)
}

log_line <- function(...) {
  line <- paste(format(Sys.time(), "%Y-%m-%d %H:%M:%S"), "ratings_mixed_models", paste0(...))
  if (!is.null(LOG_PATH)) cat(line, "\n", file = LOG_PATH, append = TRUE, sep = "")
  message(line)
}

fail <- function(...) stop(paste0(...), call. = FALSE)

one_line <- function(x) trimws(gsub("[[:space:]]+", " ", x))

# ---------------------------------------------------------------------------------------
# Input

read_ratings <- function(path, zone_column) {
  if (is.null(path) || !file.exists(path)) fail("input ratings: no such file: ", path)
  data <- read.delim(
    path, colClasses = "character", na.strings = c("", "NA"), quote = "\"",
    comment.char = "", check.names = FALSE, encoding = "UTF-8"
  )
  required <- c(RESERVED, zone_column)
  missing <- setdiff(required, names(data))
  if (length(missing) > 0) {
    fail(path, ": missing column(s) ", paste(missing, collapse = ", "),
         "; columns present: ", paste(names(data), collapse = ", "))
  }
  bad <- which(!is.na(data$unsafe) & !(data$unsafe %in% c("0", "1")))
  if (length(bad) > 0) {
    fail(path, " line ", bad[1] + 1, ", column unsafe: value '", data$unsafe[bad[1]],
         "' is not 0, 1 or empty (", length(bad), " such row(s))")
  }
  for (column in c("dataset", "item_id", "rater_id")) {
    empty <- which(is.na(data[[column]]))
    if (length(empty) > 0) {
      fail(path, " line ", empty[1] + 1, ", column ", column, ": empty (",
           length(empty), " such row(s))")
    }
  }
  key <- paste(data$dataset, data$item_id, data$rater_id, sep = "\r")
  dup <- which(duplicated(key))
  if (length(dup) > 0) {
    fail(path, " line ", dup[1] + 1, ": a second rating of item '", data$item_id[dup[1]],
         "' by rater '", data$rater_id[dup[1]], "' in dataset '", data$dataset[dup[1]],
         "' (", length(dup), " duplicate row(s))")
  }
  data$unsafe <- as.integer(data$unsafe)
  data
}

check_names <- function(columns) {
  bad <- columns[!grepl("^[A-Za-z][A-Za-z0-9_.]*$", columns) | columns %in% RESERVED]
  if (length(bad) > 0) {
    fail("params: column name(s) ", paste0("'", bad, "'", collapse = ", "),
         " cannot be used as model terms (letters, digits, '_' and '.', starting with a ",
         "letter; not one of ", paste(RESERVED, collapse = ", "), ")")
  }
}

# A rater's zone and demographics must not change between their ratings.
check_rater_level <- function(data, columns, dataset) {
  for (column in columns) {
    values <- unique(data[!is.na(data[[column]]), c("rater_id", column)])
    clash <- values$rater_id[duplicated(values$rater_id)]
    if (length(clash) > 0) {
      fail("dataset '", dataset, "': rater '", clash[1], "' has more than one value in column ",
           column, " (", paste(values[[column]][values$rater_id == clash[1]], collapse = ", "),
           "); rater attributes must be constant")
    }
  }
}

c_sorted_factor <- function(x) factor(x, levels = sort(unique(x[!is.na(x)]), method = "radix"))

# Keep the demographics a dataset can estimate; drop rows missing a value the models use.
prepare <- function(data, dataset, demographics, zone_column) {
  n0 <- nrow(data)
  data <- data[!is.na(data$unsafe), , drop = FALSE]
  if (nrow(data) < n0) {
    log_line("dataset '", dataset, "': ", n0 - nrow(data), " rating(s) without a 0/1 value ",
             "dropped")
  }
  kept <- character()
  for (column in demographics) {
    if (!column %in% names(data)) {
      log_line("dataset '", dataset, "': demographic '", column, "' absent from the input: ",
               "left out of D")
    } else if (length(unique(na.omit(data[[column]]))) < 2) {
      log_line("dataset '", dataset, "': demographic '", column, "' has ",
               length(unique(na.omit(data[[column]]))), " distinct value(s): left out of D")
    } else {
      kept <- c(kept, column)
    }
  }
  used <- c(kept, zone_column)
  check_rater_level(data, used, dataset)
  complete <- stats::complete.cases(data[, used, drop = FALSE])
  if (any(!complete)) {
    missing_by <- vapply(used, function(c) sum(is.na(data[[c]])), numeric(1))
    log_line("dataset '", dataset, "': ", sum(!complete), " rating(s) by ",
             length(unique(data$rater_id[!complete])), " rater(s) dropped for a missing value (",
             paste(sprintf("%s: %d", used, missing_by)[missing_by > 0], collapse = ", "),
             "); every model is fitted on the same rows, as LRTs require")
    data <- data[complete, , drop = FALSE]
  }
  # dropping rows can leave a column with one value: check again
  again <- kept[vapply(kept, function(c) length(unique(data[[c]])) < 2, logical(1))]
  for (column in again) {
    log_line("dataset '", dataset, "': demographic '", column, "' has one value after ",
             "dropping incomplete rows: left out of D")
  }
  kept <- setdiff(kept, again)
  for (column in c(kept, zone_column)) data[[column]] <- c_sorted_factor(data[[column]])
  data$rater_id <- factor(data$rater_id)
  data$item_id <- factor(data$item_id)
  list(data = data, demographics = kept)
}

# ---------------------------------------------------------------------------------------
# Models

fixed_terms <- function(model, demographics, zone_column, interaction_with) {
  switch(model,
    "base" = "1",
    "D" = demographics,
    "CZ" = zone_column,
    "D+CZ" = c(demographics, zone_column),
    "DxCZ" = c(demographics, zone_column, paste0(zone_column, ":", interaction_with))
  )
}

# Why a model cannot be fitted in this dataset (NULL when it can).
skip_reason <- function(model, demographics, zone_levels, zone_column, interaction_with,
                        n_rows) {
  if (n_rows == 0) return("no complete ratings")
  needs_d <- model %in% c("D", "D+CZ", "DxCZ")
  needs_zone <- model %in% c("CZ", "D+CZ", "DxCZ")
  if (needs_d && length(demographics) == 0) {
    return("no demographic column with at least two values")
  }
  if (needs_zone && zone_levels < 2) {
    return(sprintf("zone column '%s' has %d distinct value(s)", zone_column, zone_levels))
  }
  if (model == "DxCZ" && !interaction_with %in% demographics) {
    return(sprintf("interaction_with '%s' is not among the demographics kept (%s)",
                   interaction_with, paste(demographics, collapse = ", ")))
  }
  NULL
}

fit_model <- function(formula, data, family, glmer_optimizer) {
  warnings <- character()
  messages <- character()
  fit <- tryCatch(
    withCallingHandlers(
      if (family == "gaussian") {
        lmer(formula, data = data, REML = FALSE)
      } else {
        glmer(formula, data = data, family = binomial,
              control = glmerControl(optimizer = glmer_optimizer))
      },
      warning = function(w) {
        warnings <<- c(warnings, one_line(conditionMessage(w)))
        invokeRestart("muffleWarning")
      },
      message = function(m) {
        messages <<- c(messages, one_line(conditionMessage(m)))
        invokeRestart("muffleMessage")
      }
    ),
    error = function(e) e
  )
  if (inherits(fit, "error")) {
    return(list(status = "failed", fit = NULL, converged = FALSE, singular = NA,
                message = paste(c(paste("fit failed:", one_line(conditionMessage(fit))),
                                  warnings), collapse = " | "),
                notes = paste(messages, collapse = " | ")))
  }
  info <- fit@optinfo
  problems <- warnings
  code <- info$conv$opt
  if (!is.null(code) && code != 0 && !any(grepl("convergence code", warnings))) {
    problems <- c(problems, sprintf("optimizer (%s) convergence code %s%s", info$optimizer,
                                    code, if (is.null(info$message)) "" else
                                      paste0(": ", one_line(info$message))))
  }
  problems <- c(problems, one_line(unlist(info$conv$lme4$messages)),
                one_line(unlist(info$warnings)))
  singular <- isSingular(fit)
  if (singular) {
    # isSingular's rule: a variance parameter (theta, relative to the residual scale)
    # below 1e-4 where its lower bound is 0
    theta <- getME(fit, "theta")
    zero <- sub("\\..*$", "", names(theta)[getME(fit, "lower") == 0 & theta < 1e-4])
    problems <- c(problems, sprintf(
      "singular fit: variance of %s estimated at (or near) zero",
      if (length(zero) > 0) paste(zero, collapse = ", ") else "a random effect"))
  }
  is_singular_note <- grepl("singular", messages, ignore.case = TRUE)
  problems <- unique(c(problems, messages[is_singular_note]))
  list(status = "fitted", fit = fit, converged = length(problems) == 0, singular = singular,
       message = paste(problems, collapse = " | "),
       notes = paste(unique(messages[!is_singular_note]), collapse = " | "))
}

group_variance <- function(fit, group) {
  vc <- VarCorr(fit)
  if (group %in% names(vc)) as.numeric(vc[[group]][1, 1]) else NA_real_
}

model_row <- function(dataset, family, model, formula_text, result, data) {
  row <- data.frame(
    dataset = dataset, family = family, model = model, formula = formula_text,
    status = result$status, n = nrow(data), n_raters = length(unique(data$rater_id)),
    n_items = length(unique(data$item_id)), n_fixed = NA_integer_, logLik = NA_real_,
    df = NA_integer_, AIC = NA_real_, BIC = NA_real_, rater_variance = NA_real_,
    item_variance = NA_real_, residual_variance = NA_real_, converged = result$converged,
    singular = result$singular, convergence_message = result$message, notes = result$notes,
    stringsAsFactors = FALSE
  )
  fit <- result$fit
  if (!is.null(fit)) {
    ll <- logLik(fit)
    row$n <- nobs(fit)
    row$n_raters <- as.integer(ngrps(fit)[["rater_id"]])
    row$n_items <- as.integer(ngrps(fit)[["item_id"]])
    row$n_fixed <- length(fixef(fit))
    row$logLik <- as.numeric(ll)
    row$df <- as.integer(attr(ll, "df"))
    row$AIC <- AIC(fit)
    row$BIC <- BIC(fit)
    row$rater_variance <- group_variance(fit, "rater_id")
    row$item_variance <- group_variance(fit, "item_id")
    row$residual_variance <- if (family == "gaussian") sigma(fit)^2 else NA_real_
  }
  row
}

# Split a coefficient name ("zoneConfucian:ethnicityWhite") into its variables and levels.
split_term <- function(term, variables) {
  if (term == "(Intercept)") return(c("(Intercept)", ""))
  parts <- strsplit(term, ":", fixed = TRUE)[[1]]
  vars <- character()
  levels <- character()
  for (part in parts) {
    candidates <- variables[startsWith(part, variables)]
    var <- if (length(candidates) > 0) candidates[which.max(nchar(candidates))] else part
    vars <- c(vars, var)
    levels <- c(levels, substring(part, nchar(var) + 1))
  }
  c(paste(vars, collapse = ":"), paste(levels, collapse = ":"))
}

# Standard errors come from vcov(), which for glmer may fall back from a non-positive-
# definite Hessian with a warning: that is a convergence problem too, so it is returned
# (and the model marked) instead of printed.
fixed_effects_of <- function(fit) {
  problems <- character()
  se <- tryCatch(
    withCallingHandlers(
      sqrt(diag(as.matrix(vcov(fit)))),
      warning = function(w) {
        problems <<- c(problems, one_line(conditionMessage(w)))
        invokeRestart("muffleWarning")
      }
    ),
    error = function(e) {
      problems <<- c(problems, paste("vcov failed:", one_line(conditionMessage(e))))
      rep(NA_real_, length(fixef(fit)))
    }
  )
  list(estimate = fixef(fit), se = se, problems = problems)
}

fixed_rows <- function(dataset, family, model, result, variables) {
  fit <- result$fit
  if (is.null(fit)) return(NULL)
  estimate <- result$fixed$estimate
  se <- result$fixed$se
  statistic <- estimate / se
  parts <- vapply(names(estimate), split_term, character(2), variables = variables)
  data.frame(
    dataset = dataset, family = family, model = model, term = names(estimate),
    variable = parts[1, ], level = parts[2, ], estimate = unname(estimate),
    std_error = unname(se), statistic = unname(statistic),
    conf_low = unname(estimate - Z95 * se), conf_high = unname(estimate + Z95 * se),
    p_value = unname(2 * pnorm(-abs(statistic))), converged = result$converged,
    stringsAsFactors = FALSE
  )
}

comparison_row <- function(dataset, family, big, small, rows, fits) {
  label <- paste(big, "vs", small)
  row <- data.frame(
    dataset = dataset, family = family, comparison = label, model_big = big,
    model_small = small, chi2 = NA_real_, df = NA_integer_, p_value = NA_real_,
    delta_aic = NA_real_, delta_bic = NA_real_, rater_variance_small = NA_real_,
    rater_variance_big = NA_real_, rater_variance_change = NA_real_,
    converged_big = rows[[big]]$converged, converged_small = rows[[small]]$converged,
    converged = rows[[big]]$converged && rows[[small]]$converged, message = "",
    stringsAsFactors = FALSE
  )
  notes <- character()
  for (model in c(big, small)) {
    if (rows[[model]]$status != "fitted") {
      notes <- c(notes, sprintf("model %s %s", model, rows[[model]]$status))
    } else if (!rows[[model]]$converged) {
      notes <- c(notes, sprintf("model %s did not converge (see the models table)", model))
    }
  }
  if (is.null(fits[[big]]) || is.null(fits[[small]])) {
    row$message <- paste(c("not compared", notes), collapse = ": ")
    return(row)
  }
  b <- rows[[big]]
  s <- rows[[small]]
  if (b$n != s$n) fail("internal: ", label, " fitted on different rows (", b$n, " vs ", s$n, ")")
  row$chi2 <- 2 * (b$logLik - s$logLik)
  row$df <- b$df - s$df
  row$p_value <- if (row$df > 0) pchisq(max(row$chi2, 0), row$df, lower.tail = FALSE) else NA
  if (row$df <= 0) {
    notes <- c(notes, sprintf("the bigger model has no more parameters (df %d vs %d)",
                              b$df, s$df))
  }
  if (row$chi2 < -1e-6) {
    notes <- c(notes, sprintf(paste0(
      "the bigger model's logLik is below the smaller's by %.3g: an optimizer problem ",
      "(p computed at chi2 = 0)"), -row$chi2 / 2))
  }
  row$delta_aic <- b$AIC - s$AIC
  row$delta_bic <- b$BIC - s$BIC
  row$rater_variance_small <- s$rater_variance
  row$rater_variance_big <- b$rater_variance
  row$rater_variance_change <- if (s$rater_variance > 0) {
    (b$rater_variance - s$rater_variance) / s$rater_variance
  } else {
    notes <- c(notes, "smaller model's rater variance is zero: no relative change")
    NA_real_
  }
  row$message <- paste(notes, collapse = " | ")
  row
}

fit_dataset <- function(data, dataset, settings) {
  prepared <- prepare(data, dataset, settings$demographics, settings$zone_column)
  data <- prepared$data
  demographics <- prepared$demographics
  zone_column <- settings$zone_column
  zone_levels <- nlevels(data[[zone_column]])
  log_line("dataset '", dataset, "': ", nrow(data), " ratings, ",
           length(unique(data$rater_id)), " raters, ", length(unique(data$item_id)),
           " items; D = ", if (length(demographics)) paste(demographics, collapse = " + ")
           else "(none)", "; zone column '", zone_column, "' with ", zone_levels, " values")
  variables <- c(demographics, zone_column)
  models <- list()
  comparisons <- list()
  fixed <- list()
  for (family in settings$families) {
    rows <- list()
    fits <- list()
    for (model in settings$models) {
      terms <- fixed_terms(model, demographics, zone_column, settings$interaction_with)
      formula_text <- paste("unsafe ~", paste(terms, collapse = " + "),
                            "+ (1 | rater_id) + (1 | item_id)")
      reason <- skip_reason(model, demographics, zone_levels, zone_column,
                            settings$interaction_with, nrow(data))
      started <- Sys.time()
      result <- if (is.null(reason)) {
        fit_model(stats::as.formula(formula_text), data, family, settings$glmer_optimizer)
      } else {
        list(status = "skipped", fit = NULL, converged = FALSE, singular = NA,
             message = paste("not fitted:", reason), notes = "")
      }
      if (!is.null(result$fit)) {
        result$fixed <- fixed_effects_of(result$fit)
        if (length(result$fixed$problems) > 0) {
          result$converged <- FALSE
          result$message <- paste(c(if (nzchar(result$message)) result$message,
                                    paste("standard errors:", result$fixed$problems)),
                                  collapse = " | ")
        }
      }
      row <- model_row(dataset, family, model, formula_text, result, data)
      log_line(sprintf(
        "dataset '%s' %s %s: %s, logLik %s, df %s, converged %s%s (%.1f s)", dataset, family,
        model, result$status, format(row$logLik, digits = 10), row$df, row$converged,
        if (nzchar(row$convergence_message)) paste0(" [", row$convergence_message, "]") else "",
        as.numeric(difftime(Sys.time(), started, units = "secs"))))
      if (nzchar(row$notes)) log_line("dataset '", dataset, "' ", family, " ", model,
                                      ": note: ", row$notes)
      rows[[model]] <- row
      fits[[model]] <- result$fit
      models[[length(models) + 1]] <- row
      fixed[[length(fixed) + 1]] <- fixed_rows(dataset, family, model, result, variables)
    }
    for (pair in COMPARISONS) {
      if (!all(pair %in% settings$models)) next
      row <- comparison_row(dataset, family, pair[1], pair[2], rows, fits)
      log_line(sprintf("dataset '%s' %s %s: chi2 %s, df %s, p %s, delta AIC %s%s", dataset,
                       family, row$comparison, format(row$chi2, digits = 6), row$df,
                       format(row$p_value, digits = 4), format(row$delta_aic, digits = 6),
                       if (nzchar(row$message)) paste0(" [", row$message, "]") else ""))
      comparisons[[length(comparisons) + 1]] <- row
    }
  }
  list(models = models, comparisons = comparisons, fixed = fixed)
}

# ---------------------------------------------------------------------------------------
# Output: TSV, doubles written with 17 significant digits (a lossless round trip), missing
# values empty, text on one line and quoted; written to a temporary sibling and renamed.

MODEL_COLUMNS <- c(
  "dataset", "family", "model", "formula", "status", "n", "n_raters", "n_items", "n_fixed",
  "logLik", "df", "AIC", "BIC", "rater_variance", "item_variance", "residual_variance",
  "converged", "singular", "convergence_message", "notes"
)
COMPARISON_COLUMNS <- c(
  "dataset", "family", "comparison", "model_big", "model_small", "chi2", "df", "p_value",
  "delta_aic", "delta_bic", "rater_variance_small", "rater_variance_big",
  "rater_variance_change", "converged_big", "converged_small", "converged", "message"
)
FIXED_COLUMNS <- c(
  "dataset", "family", "model", "term", "variable", "level", "estimate", "std_error",
  "statistic", "conf_low", "conf_high", "p_value", "converged"
)

bind <- function(rows, columns) {
  rows <- Filter(Negate(is.null), rows)
  if (length(rows) == 0) {
    frame <- as.data.frame(setNames(replicate(length(columns), character(), simplify = FALSE),
                                    columns), stringsAsFactors = FALSE)
    return(frame)
  }
  do.call(rbind, rows)[, columns]
}

write_tsv <- function(frame, path) {
  if (is.null(path)) fail("output path missing for a table with columns ",
                          paste(names(frame), collapse = ", "))
  text <- frame
  for (column in names(text)) {
    x <- text[[column]]
    text[[column]] <- if (is.double(x)) {
      ifelse(is.na(x), NA_character_, sprintf("%.17g", x))
    } else if (is.logical(x)) {
      ifelse(is.na(x), NA_character_, ifelse(x, "TRUE", "FALSE"))
    } else {
      ifelse(is.na(x), NA_character_, one_line(as.character(x)))
    }
  }
  quoted <- which(!vapply(frame, function(x) is.numeric(x) || is.logical(x), logical(1)))
  dir.create(dirname(path), recursive = TRUE, showWarnings = FALSE)
  tmp <- tempfile(pattern = paste0(".", basename(path), "."), tmpdir = dirname(path),
                  fileext = ".part")
  write.table(text, tmp, sep = "\t", quote = quoted, na = "", row.names = FALSE,
              qmethod = "double", fileEncoding = "UTF-8")
  if (!file.rename(tmp, path)) fail("could not write ", path)
}

# ---------------------------------------------------------------------------------------

main <- function() {
  settings <- list(
    demographics = as.character(param("demographics", DEFAULT_DEMOGRAPHICS)),
    zone_column = as.character(param("zone_column", "zone")),
    interaction_with = as.character(param("interaction_with", "ethnicity")),
    families = as.character(param("families", FAMILIES)),
    models = as.character(param("models", MODELS)),
    glmer_optimizer = as.character(param("glmer_optimizer", "bobyqa"))
  )
  for (key in c("zone_column", "interaction_with", "glmer_optimizer")) {
    if (length(settings[[key]]) != 1) {
      fail("params ", key, ": one column name expected, got ", length(settings[[key]]))
    }
  }
  unknown <- setdiff(settings$families, FAMILIES)
  if (length(unknown) > 0) {
    fail("params families: unknown ", paste(unknown, collapse = ", "), "; known: ",
         paste(FAMILIES, collapse = ", "))
  }
  unknown <- setdiff(settings$models, MODELS)
  if (length(unknown) > 0) {
    fail("params models: unknown ", paste(unknown, collapse = ", "), "; known: ",
         paste(MODELS, collapse = ", "))
  }
  settings$models <- MODELS[MODELS %in% settings$models]
  check_names(unique(c(settings$demographics, settings$zone_column,
                       settings$interaction_with)))
  log_line("lme4 ", as.character(packageVersion("lme4")), ", ", R.version.string,
           "; families ", paste(settings$families, collapse = ", "), "; models ",
           paste(settings$models, collapse = ", "), "; demographics ",
           paste(settings$demographics, collapse = ", "), "; zone column ",
           settings$zone_column, "; interaction with ", settings$interaction_with,
           "; glmer optimizer ", settings$glmer_optimizer)
  data <- read_ratings(inp("ratings"), settings$zone_column)
  if (nrow(data) == 0) fail(inp("ratings"), ": no ratings")
  models <- list()
  comparisons <- list()
  fixed <- list()
  for (dataset in unique(data$dataset)) {
    result <- fit_dataset(data[data$dataset == dataset, , drop = FALSE], dataset, settings)
    models <- c(models, result$models)
    comparisons <- c(comparisons, result$comparisons)
    fixed <- c(fixed, result$fixed)
  }
  models <- bind(models, MODEL_COLUMNS)
  write_tsv(models, out("models"))
  write_tsv(bind(comparisons, COMPARISON_COLUMNS), out("comparisons"))
  write_tsv(bind(fixed, FIXED_COLUMNS), out("fixed_effects"))
  not_converged <- models[!models$converged, , drop = FALSE]
  if (nrow(not_converged) > 0) {
    log_line("WARNING: ", nrow(not_converged), " of ", nrow(models), " model(s) not ",
             "converged or not fitted: ", paste(sprintf("%s %s %s", not_converged$dataset,
                                                        not_converged$family,
                                                        not_converged$model),
                                                collapse = "; "))
  }
  log_line("done: ", nrow(models), " models written")
}

tryCatch(main(), error = function(e) {
  log_line("ERROR: ", conditionMessage(e))
  stop(conditionMessage(e), call. = FALSE)
})
